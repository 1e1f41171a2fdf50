"""Fakes for the client's tests: a fault-injecting HTTP server on loopback and a fake clock.

``FaultServer`` is a stub, not TorchServe: it exists to produce on demand the faults a real
server cannot (dropped connections, stalled bodies, scripted 503s). It speaks just enough HTTP/1.1
(keep-alive, Content-Length bodies) and runs on its own thread and event loop, so sync and async
tests can use it alike. Unscripted requests get TorchServe-shaped answers: ``/ping`` is healthy,
``/predictions/…`` echoes a prediction derived from the text (``prediction_for``), ``/models/…``
describes one model.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from contract import load_labels
from serving_client.transports import Headers, WireResponse

LABELS = load_labels()


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def route(self) -> str:
        return self.path.strip("/").split("/", 1)[0]

    def text(self) -> str:
        return json.loads(self.body)["text"]


@dataclass
class Reply:
    """A complete answer; a dict or list body is sent as JSON."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds the server takes before answering
    gate: threading.Event | None = None  # when given, the answer waits until it is set


@dataclass
class Hang:
    """Read the request, never answer (until the server stops)."""


@dataclass
class SlowBody:
    """Send the headers, then the body one byte per ``interval`` seconds."""

    body: bytes
    interval: float


@dataclass
class Reset:
    """Send the start of an answer, then reset the connection (TCP RST)."""

    partial: bytes = b'HTTP/1.1 200 OK\r\nContent-Length: 120\r\n\r\n{"intent": "conv'


@dataclass
class Raw:
    """Send these bytes as the whole answer, then close the connection (FIN): garbage that is
    not HTTP, or a head promising more body than follows."""

    data: bytes


Action = Reply | Hang | SlowBody | Reset | Raw
Responder = Callable[[Request], Action]


def prediction_for(text: str) -> dict[str, Any]:
    """The echo prediction of the stub: a stable function of the text, distinct per text."""
    crc = zlib.crc32(text.encode())
    intent = LABELS[crc % len(LABELS)]
    confidence = (crc % 9973) / 9973
    return {
        "intent": intent,
        "confidence": confidence,
        "top_k": [{"intent": intent, "score": confidence}],
        "model_version": "stub",
        "truncated": False,
        "low_confidence": confidence < 0.3,
    }


def error_body(status: int, kind: str, message: str) -> dict[str, Any]:
    """A TorchServe-shaped error body."""
    return {"code": status, "type": kind, "message": message}


def echo(request: Request) -> Action:
    return Reply(200, prediction_for(request.text()))


def _default(request: Request) -> Action:
    if request.route == "ping":
        return Reply(200, {"status": "Healthy"})
    if request.route == "models":
        return Reply(
            200,
            [
                {
                    "modelName": "intent_classifier",
                    "modelVersion": "1.0",
                    "batchSize": 8,
                    "maxBatchDelay": 10,
                    "workers": [{"id": "9000", "status": "READY", "pid": 42, "gpu": False}],
                    "jobQueueStatus": {"remainingCapacity": 100, "pendingRequests": 0},
                }
            ],
        )
    return echo(request)


class FaultServer:
    """A scripted HTTP server on 127.0.0.1; see the module docstring.

    ``script(*actions, route=...)`` queues actions for the next requests of a route ("predictions",
    "ping", "models"); ``responders[route]`` answers once the queue is empty. ``requests`` records
    every request; ``max_in_flight`` is the most requests it held at once.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.responders: dict[str, Responder] = {}
        self.max_in_flight = 0
        self._in_flight = 0
        self._queues: dict[str, deque[Action | Responder]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._stopping: asyncio.Event | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()
        self._arrivals = threading.Condition()
        self.port = 0

    def start(self) -> FaultServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def script(self, *actions: Action | Responder, route: str = "predictions") -> None:
        with self._lock:
            self._queues.setdefault(route, deque()).extend(actions)

    def count(self, route: str = "predictions") -> int:
        return sum(request.route == route for request in list(self.requests))

    def wait_for_requests(
        self, count: int, route: str = "predictions", timeout: float = 10
    ) -> bool:
        """Block until ``count`` requests of ``route`` have arrived; False on timeout."""
        with self._arrivals:
            return self._arrivals.wait_for(lambda: self.count(route) >= count, timeout)

    async def _start(self) -> None:
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None and self._stopping is not None
        self._stopping.set()
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    def _next_action(self, request: Request) -> Action:
        with self._lock:
            queue = self._queues.get(request.route)
            planned = queue.popleft() if queue else None
        if planned is None:
            planned = self.responders.get(request.route, _default)
        return planned(request) if callable(planned) else planned

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while (request := await _read_request(reader)) is not None:
                with self._arrivals:
                    self.requests.append(request)
                    self._arrivals.notify_all()
                self._in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self._in_flight)
                try:
                    keep_open = await self._answer(self._next_action(request), writer)
                finally:
                    self._in_flight -= 1
                if not keep_open:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # stop() cancels open connections; ending quietly spares Python 3.11's stream
            # callback from logging each cancelled handler as an error.
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _answer(self, action: Action, writer: asyncio.StreamWriter) -> bool:
        """Carry out ``action``; False when the connection must not be reused."""
        assert self._stopping is not None
        if isinstance(action, Reply):
            if action.gate is not None:
                await asyncio.to_thread(action.gate.wait, 30)
            if action.delay:
                await asyncio.sleep(action.delay)  # the fake's own latency, not the test's
            writer.write(_response_bytes(action))
            await writer.drain()
            return True
        if isinstance(action, Hang):
            await self._stopping.wait()
            return False
        if isinstance(action, Raw):
            writer.write(action.data)
            await writer.drain()
            return False
        if isinstance(action, SlowBody):
            writer.write(_head(200, {"Content-Length": str(len(action.body))}))
            for byte in action.body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(action.interval)  # the fault is the slowness itself
            return True
        writer.write(action.partial)
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, path, headers, body)


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _response_bytes(reply: Reply) -> bytes:
    body = reply.body
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    return _head(reply.status, {**headers, **reply.headers}) + body


class FakeClock:
    """A monotonic clock that moves only when told; ``sleep`` advances it and returns at once."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


WireStep = WireResponse | BaseException | Callable[[], Any]


class ScriptedWire:
    """A ``Wire`` in this process, for tests that need many requests fast and exact control.

    Each request takes the next step of ``steps`` (then ``default``): a ``WireResponse`` to
    answer, an exception to raise, or a callable whose awaitable result is used (an
    ``asyncio.Event().wait`` to hold the request until a test releases it).
    """

    def __init__(self, *steps: WireStep, default: WireStep | None = None) -> None:
        self.steps: deque[WireStep] = deque(steps)
        self.default = default if default is not None else ok_answer()
        self.sent = 0

    async def request(
        self, method: str, url: str, *, headers: Headers, body: bytes | None = None
    ) -> WireResponse:
        step = self.steps.popleft() if self.steps else self.default
        self.sent += 1
        if callable(step):
            step = await step()
        if isinstance(step, BaseException):
            raise step
        return step if isinstance(step, WireResponse) else ok_answer()

    async def aclose(self) -> None:
        pass


def ok_answer(text: str = "x") -> WireResponse:
    return WireResponse(200, json.dumps(prediction_for(text)).encode())
