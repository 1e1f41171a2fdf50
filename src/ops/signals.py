"""SIGINT and SIGTERM as an exception, so a deploy cut short still rolls back."""

from __future__ import annotations

import signal
import threading


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; a BaseException so no ``except Exception`` swallows it."""

    def __init__(self, signo: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signo).name}")
        self.signo = signo


class SignalGuard:
    """While entered and armed, the first SIGINT or SIGTERM raises :class:`Interrupted` and
    disarms the guard; once disarmed (a rollback running, the report being written) signals are
    only recorded in ``received``, so a second Ctrl-C cannot cut a rollback short."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self.armed = True
        self._previous: dict[int, object] = {}

    def __enter__(self) -> SignalGuard:
        # Handlers can only be set from the main thread; elsewhere no signal reaches us anyway.
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for signo, handler in self._previous.items():
            signal.signal(signo, handler)

    def disarm(self) -> None:
        self.armed = False

    def _handle(self, signo: int, _frame: object) -> None:
        self.received = self.received or signo
        if self.armed:
            self.armed = False
            raise Interrupted(signo)
