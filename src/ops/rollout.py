"""One version rolled across a fleet, canary first, and rolled back everywhere on any failure.

``Rollout(servers, url=..., version=..., smoke=...).run(guard, report)`` fills in a
:class:`DeployReport`; ``python -m ops.deploy`` is the command around it, and its docstring states
the rules.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from contract import check_prediction, load_labels
from ops.artifacts import archive_file_name
from ops.model_server import ModelServer, ServerError
from ops.signals import Interrupted, SignalGuard

log = logging.getLogger("ops.deploy")
# A registration cut short by a signal goes on inside TorchServe; the rollback waits this long
# for the version to appear so it can unregister it.
REGISTRATION_SETTLE_S = 30.0


class Refused(RuntimeError):
    """The deploy cannot start; nothing was changed on any server."""


class SmokeFailed(RuntimeError):
    """The new version answered a smoke prompt wrongly."""


@dataclass
class ServerReport:
    management_url: str
    inference_url: str
    role: str  # "canary" or "fleet"
    previous_default: str | None = None
    default: str | None = None  # after the deploy, or after the rollback
    steps: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class DeployReport:
    model_name: str
    version: str | None
    archive_url: str
    sha256: str | None
    status: str = "refused"  # deployed | rolled back | rollback incomplete | refused
    error: str | None = None
    signal: str | None = None
    servers: list[ServerReport] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.signal is not None:
            return 128 + signal.Signals[self.signal].value
        return {"deployed": 0, "refused": 2}.get(self.status, 1)


@dataclass
class _Plan:
    server: ModelServer
    report: ServerReport
    stray: bool = False  # the version is registered, not the default, from this same URL
    touched: bool = False
    registering: bool = False  # a register request was sent and has not answered


class Rollout:
    """Deploy ``version`` from ``url`` onto ``servers`` (the first is the canary)."""

    def __init__(
        self,
        servers: Sequence[ModelServer],
        *,
        url: str,
        version: str,
        smoke: list[dict],
        workers: int = 1,
    ) -> None:
        self.url, self.version, self.smoke, self.workers = url, version, smoke, workers
        self.plans = [
            _Plan(
                s,
                ServerReport(
                    s.address.management_url, s.address.inference_url, "fleet" if i else "canary"
                ),
            )
            for i, s in enumerate(servers)
        ]
        self.labels = load_labels()
        self._current = self.plans[0]  # the server being checked or changed

    def check(self) -> None:
        """Read every server's state and refuse what cannot be deployed; changes nothing."""
        if not self.smoke:
            raise Refused("no smoke prompts: a version nobody has asked anything is not deployed")
        name = archive_file_name(self.url)
        for plan in self.plans:
            self._current = plan
            server, report = plan.server, plan.report
            report.previous_default = report.default = server.default_version()
            versions = server.versions()
            if report.previous_default == self.version:
                # Also what a first deploy killed before its smoke check leaves: the server's only
                # version, serving at once. Which of the two it is, only an operator can tell.
                raise Refused(
                    f"{server.name}: version {self.version} is already the default; package the "
                    "new model under a new version"
                    + (
                        f", or, if a killed first deploy left it, unregister it "
                        f"(DELETE /models/{server.model_name}/{self.version}) and deploy again"
                        if len(versions) == 1
                        else ""
                    )
                )
            holders = [(f"version {v}", url) for v, url in versions.items() if v != self.version]
            holders += [
                (f"model {model}", url)
                for model, url in server.model_urls().items()
                if model != server.model_name
            ]
            for holder, url in holders:
                if archive_file_name(url) == name:
                    raise Refused(
                        f"{server.name}: {holder} was registered from a file named {name}; "
                        "TorchServe keeps one archive per file name, so publish this version "
                        "under its own name (python -m ops.publish)"
                    )
            if self.version in versions:
                if versions[self.version] != self.url:
                    raise Refused(
                        f"{server.name}: version {self.version} is already registered from "
                        f"{versions[self.version]}; unregister it or package a new version"
                    )
                plan.stray = True

    def run(self, guard: SignalGuard, report: DeployReport) -> DeployReport:
        """Check, then roll out; on any exception or signal, roll every touched server back.
        Fills in and returns ``report``; ``guard`` is disarmed once anything has changed."""
        report.servers = [plan.report for plan in self.plans]
        try:
            self.check()
        except BaseException as err:  # Interrupted included: nothing has changed yet
            report.error, report.signal = describe_error(err), signal_name(err)
            self._current.report.error = report.error
            return report
        failure: BaseException | None = None
        try:
            try:
                for plan in self.plans:
                    self._current = plan
                    self._roll_out(plan)
                guard.disarm()
                report.status = "deployed"
            except BaseException as err:
                guard.disarm()
                failure = err
        except Interrupted as late:  # a signal between the catch and the disarm
            failure = failure or late
        if failure is not None:
            report.error, report.signal = describe_error(failure), signal_name(failure)
            self._current.report.error = report.error
            log.error("deploy of version %s failed: %s; rolling back", self.version, report.error)
            report.status = "rolled back" if self._roll_back() else "rollback incomplete"
        return report

    def _roll_out(self, plan: _Plan) -> None:
        server, report, version = plan.server, plan.report, self.version
        plan.touched = True
        if plan.stray:
            server.unregister(version)
            self._step(report, f"unregistered stray version {version} (same URL, not the default)")
        plan.registering = True  # until TorchServe answers: it registers on even if we stop
        try:
            server.register(self.url, version, self.workers)
        except ServerError:
            plan.registering = False
            raise
        plan.registering = False
        if report.previous_default is None:
            self._step(report, f"registered version {version}: first version, serving at once")
        else:
            self._step(report, f"registered version {version} beside {report.previous_default}")
        server.scale(version, self.workers)
        self._step(report, f"scaled version {version} to {self.workers} worker(s)")
        for item in self.smoke:
            problem = self._smoke_problem(server.predict(version, item["text"]), item)
            if problem:
                raise SmokeFailed(
                    f"{server.name}: smoke check failed on {item['text'][:50]!r}: {problem}"
                )
        self._step(report, f"{len(self.smoke)} smoke prediction(s) passed")
        server.set_default(version)
        report.default = version
        self._step(report, f"version {version} is the default")

    def _smoke_problem(self, payload: object, item: dict) -> str | None:
        try:
            check_prediction(payload, self.labels)
        except ValueError as err:
            return f"not a prediction: {err}"
        if payload["model_version"] != self.version:
            return f"answered as version {payload['model_version']!r}"
        if item.get("intent") and payload["intent"] != item["intent"]:
            return f"predicted {payload['intent']!r} where {item['intent']!r} was expected"
        return None

    def _roll_back(self) -> bool:
        """Restore each touched server's previous default, then unregister the new version
        everywhere; the servers are asked, not trusted to be where the rollout left them.
        True when every server ended where it started."""
        touched = [plan for plan in self.plans if plan.touched]
        restored = [self._try(p, "restore the previous default", self._restore) for p in touched]
        removed = [self._try(p, f"unregister {self.version}", self._unregister) for p in touched]
        return all(restored) and all(removed)

    def _restore(self, plan: _Plan) -> None:
        plan.server.reconnect()  # a request cut short by a signal leaves its connection unusable
        previous = plan.report.previous_default
        if previous is not None and plan.server.default_version() != previous:
            plan.server.set_default(previous)
            self._step(plan.report, f"rolled back: {previous} is the default again")

    def _unregister(self, plan: _Plan) -> None:
        server, version = plan.server, self.version
        deadline = time.monotonic() + (REGISTRATION_SETTLE_S if plan.registering else 0)
        while version not in server.versions():
            if time.monotonic() >= deadline:
                self._step(plan.report, f"version {version} is not registered: nothing to undo")
                plan.report.default = server.default_version()
                return
            time.sleep(0.5)  # TorchServe announces no event for a registration finishing
        server.unregister(version)
        if plan.report.previous_default is None:
            self._step(plan.report, f"unregistered version {version}: no model left, as before")
        else:
            self._step(plan.report, f"unregistered version {version}")
        plan.report.default = server.default_version()

    @staticmethod
    def _try(plan: _Plan, action: str, undo: Callable[[_Plan], None]) -> bool:
        """Run one rollback action; a failure is recorded on the server's report, not raised,
        so the rollback goes on with the other servers."""
        try:
            undo(plan)
        except Exception as err:
            plan.report.steps.append(f"could not {action}: {describe_error(err)}")
            log.error("%s: could not %s: %s", plan.report.management_url, action, err)
            return False
        return True

    @staticmethod
    def _step(report: ServerReport, text: str) -> None:
        report.steps.append(text)
        log.info("%s: %s", report.management_url, text)


def describe_error(err: BaseException) -> str:
    """The message of an error this package raises; type and message of any other."""
    text = str(err)
    known = isinstance(err, Refused | Interrupted | ServerError | SmokeFailed)
    return text if known and text else f"{type(err).__name__}: {text}"


def signal_name(err: BaseException) -> str | None:
    return signal.Signals(err.signo).name if isinstance(err, Interrupted) else None
