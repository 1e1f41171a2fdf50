"""What the client asks TorchServe about itself: ``/ping`` on the inference port and the model's
description on the management port."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
import httpx

from serving_client.auth import Credentials
from serving_client.errors import TorchServeError
from serving_client.responses import (
    Failure,
    failure_from_exception,
    failure_from_response,
    failure_from_unexpected,
)
from serving_client.results import HealthStatus, ModelInfo
from serving_client.settings import ClientSettings
from serving_client.transports import Wire, WireResponse

logger = logging.getLogger(__name__)

# What a request can fail with short of an answer: each transport's network errors, a deadline.
NETWORK_ERRORS = (aiohttp.ClientError, httpx.TransportError, TimeoutError)


async def ping(
    wire: Wire, settings: ClientSettings, credentials: Credentials, *, model: str
) -> HealthStatus:
    """TorchServe's ``/ping``, within the health-check timeout. Never raises: the server's
    and the network's faults come back as an unhealthy status ("Unreachable",
    "Unauthorized", the server's own word), a failure of the client itself as "Unknown"."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    where = f"{settings.host}:{settings.port}"
    headers = credentials.ping_headers
    status, detail = "Unreachable", ""
    try:
        async with asyncio.timeout(settings.health_check_timeout):
            response = await wire.request("GET", settings.inference_url + "/ping", headers=headers)
    except NETWORK_ERRORS as exc:
        failure = failure_from_exception(exc, where=where, server_had_time=True)
        detail = failure.error.message
        logger.warning("GET /ping on %s failed: %s", where, failure.detail)
    except Exception as exc:
        failure = failure_from_unexpected(exc, where=where)
        status, detail = "Unknown", failure.error.message
        logger.error("GET /ping on %s failed: %s", where, failure.detail, exc_info=exc)
    else:
        if response.status == 400:
            failure = failure_from_response(response, model=model, where=where)
            status, detail = "Unauthorized", failure.error.message
        else:
            status = _ping_status(response)
    return HealthStatus(
        healthy=status == "Healthy",
        status=status,
        detail=detail,
        checked_at=time.time(),
        latency_ms=(loop.time() - started) * 1000,
    )


async def describe(
    wire: Wire, settings: ClientSettings, credentials: Credentials, *, model: str
) -> ModelInfo:
    """The model's entry in the management API (``GET /models/{name}[/{version}]``)."""
    url = f"{settings.management_url}/models/{model}"
    where = f"{settings.host}:{settings.management_port}"
    headers = credentials.management_headers()
    failure: Failure | None = None
    try:
        async with asyncio.timeout(settings.timeout):
            response = await wire.request("GET", url, headers=headers)
    except NETWORK_ERRORS as exc:
        failure = failure_from_exception(exc, where=where, server_had_time=True)
    except Exception as exc:
        failure = failure_from_unexpected(exc, where=where)
    else:
        if response.status != 200:
            failure = failure_from_response(response, model=model, where=where)
    if failure is not None:
        # Raised out here so that a network error (whose repr can hold the request's
        # headers) does not ride along as the error's context.
        logger.log(
            failure.log_level,
            "GET %s failed: %s",
            url,
            failure.detail,
            exc_info=failure.unexpected,
        )
        raise failure.error
    try:
        return ModelInfo.from_description(json.loads(response.content)[0])
    except (ValueError, TypeError, LookupError, AttributeError, RecursionError) as exc:
        raise TorchServeError(
            f"TorchServe's management API at {where} answered an unexpected model description"
        ) from exc


def _ping_status(response: WireResponse) -> str:
    try:
        status = json.loads(response.content).get("status")
    except (ValueError, AttributeError, RecursionError):
        status = None
    if isinstance(status, str) and status:
        return status
    return "Healthy" if response.status == 200 else "Unhealthy"
