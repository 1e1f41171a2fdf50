"""Fixtures of the API's tests; the helpers they use are in ``tests/api/support.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from api import create_app
from tests.api.support import (
    ApiProcess,
    ScriptedClient,
    serve_in_process,
    settings,
    start_api_process,
    torchserve_env,
)


@pytest.fixture
def scripted() -> Callable[[CollectorRegistry], ScriptedClient]:
    """Makes the app's client a ``ScriptedClient``; the last one made is ``scripted.last``."""

    def build(registry: CollectorRegistry) -> ScriptedClient:
        build.last = ScriptedClient(registry)  # type: ignore[attr-defined]
        return build.last  # type: ignore[attr-defined]

    return build


@pytest.fixture
async def stub_api(scripted) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """``(http, app)`` for an app on a ``ScriptedClient`` (``app.state.client``)."""
    app = create_app(settings(), client=scripted)
    async with serve_in_process(app) as http:
        yield http, app


@pytest.fixture
def with_torchserve(torchserve, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The session's TorchServe, named in the environment the app's client is read from."""
    for name, value in torchserve_env(torchserve).items():
        monkeypatch.setenv(name, value)
    return torchserve


@pytest.fixture
async def real_api(with_torchserve) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """``(http, app)`` for an app whose client is ``TorchServeClient.from_env`` aimed at the
    session's real TorchServe."""
    app = create_app(settings())
    async with serve_in_process(app) as http:
        yield http, app


@pytest.fixture
def api_process(torchserve, tmp_path: Path) -> Iterator[ApiProcess]:
    """A real uvicorn (``python -m api``) in front of the session's TorchServe; a rate limit no
    test reaches."""
    env = torchserve_env(torchserve, INTENT_API_RATE_LIMIT="1000000/minute")
    api = start_api_process(env, tmp_path / "api.log")
    try:
        yield api
    finally:
        api.stop()
