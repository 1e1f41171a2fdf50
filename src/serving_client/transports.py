"""The HTTP layer under the client: one small interface, three ways to carry it.

``TORCHSERVE_TRANSPORT`` picks one (figures from ``benchmarks/client_overhead.py``, in
``reports/bench/client.json``):

- ``aiohttp`` (default): an ``aiohttp.ClientSession``. The only one that keeps the client within
  0.8x of a bare aiohttp loop at 64 concurrent requests.
- ``httpx-aiohttp``: httpx's request and response objects over httpx-aiohttp's transport; holds
  its rate under concurrency but building httpx's objects costs about as much CPU again as the
  request itself.
- ``httpx``: httpx's own transport; its connection pool slows down badly past a few dozen
  concurrent requests.

Requests go straight to the transport: ``httpx.AsyncClient``'s cookie, redirect and auth
handling is not used (TorchServe needs none of it). Deadlines are the caller's
(``asyncio.timeout``), so no transport sets timeouts of its own; proxy variables are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx
import yarl
from httpx_aiohttp import AiohttpTransport

from serving_client.settings import ClientSettings

Headers = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class WireResponse:
    """What the client reads of an answer: status, body and the Retry-After header."""

    status: int
    content: bytes
    retry_after: str | None = None


class Wire(Protocol):
    """Sends one request and reads the whole answer. Raises the carrier's own errors
    (``aiohttp.ClientError``, ``httpx.TransportError``) for network failures.

    Those errors can carry the request, headers and token included (aiohttp's repr shows them),
    so the client logs only their type and message and never chains them to what it raises.
    """

    async def request(
        self, method: str, url: str, *, headers: Headers, body: bytes | None = None
    ) -> WireResponse: ...

    async def aclose(self) -> None: ...


class AiohttpWire:
    """An ``aiohttp.ClientSession`` with at most ``max_connections`` connections, kept alive."""

    def __init__(self, *, max_connections: int) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, yarl.URL] = {}

    async def request(
        self, method: str, url: str, *, headers: Headers, body: bytes | None = None
    ) -> WireResponse:
        if self._session is None:
            # Made on first use: a session belongs to the event loop running at its creation.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        target = self._urls.get(url)
        if target is None:
            target = self._urls[url] = yarl.URL(url)
        async with self._session.request(method, target, data=body, headers=headers) as response:
            content = await response.read()
            return WireResponse(response.status, content, response.headers.get("Retry-After"))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxWire:
    """httpx's ``Request``/``Response`` over any httpx transport."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport
        self._urls: dict[str, httpx.URL] = {}

    async def request(
        self, method: str, url: str, *, headers: Headers, body: bytes | None = None
    ) -> WireResponse:
        target = self._urls.get(url)
        if target is None:
            target = self._urls[url] = httpx.URL(url)
        request = httpx.Request(method, target, headers=list(headers), content=body)
        response = await self._transport.handle_async_request(request)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        return WireResponse(response.status_code, content, response.headers.get("retry-after"))

    async def aclose(self) -> None:
        await self._transport.aclose()


def build_wire(settings: ClientSettings) -> Wire:
    """The transport ``settings.transport`` names, pooled per the settings."""
    if settings.transport == "aiohttp":
        # aiohttp keeps up to ``max_connections`` alive; it has no separate keep-alive cap.
        return AiohttpWire(max_connections=settings.max_connections)
    limits = httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_keepalive_connections,
    )
    if settings.transport == "httpx-aiohttp":
        return HttpxWire(AiohttpTransport(limits=limits, trust_env=False))
    return HttpxWire(httpx.AsyncHTTPTransport(limits=limits, trust_env=False))
