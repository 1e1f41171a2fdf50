"""What a deploy asks of one TorchServe: its model's versions, registering, scaling, a
prediction from one version, the default, unregistering. Every failed answer raises
:class:`ServerError` naming the server and the step."""

from __future__ import annotations

import contextlib

import httpx

from contract import MODEL_NAME
from ops.fleet import INFERENCE_TOKEN_ENV, MANAGEMENT_TOKEN_ENV, ServerAddress


class ServerError(RuntimeError):
    """A server answered a deploy step with an error; the message says which server and step."""


class ModelServer:
    """One TorchServe's APIs as a deploy uses them, for one model name::

    server = ModelServer(ServerAddress.parse("http://127.0.0.1:8081"), management_token=key)
    server.default_version()    # "1.0", or None when the model is not registered
    """

    def __init__(
        self,
        address: ServerAddress,
        *,
        management_token: str | None = None,
        inference_token: str | None = None,
        model_name: str = MODEL_NAME,
        timeout: float = 300.0,
        smoke_timeout: float = 60.0,
    ) -> None:
        self.address, self.model_name = address, model_name
        self._tokens = management_token, inference_token
        self._timeouts = timeout, smoke_timeout
        self.management, self.inference = self._clients()

    @property
    def name(self) -> str:
        return self.address.management_url

    def _clients(self) -> tuple[httpx.Client, httpx.Client]:
        (management, inference), (timeout, smoke_timeout) = self._tokens, self._timeouts
        return (
            httpx.Client(
                base_url=self.address.management_url, timeout=timeout, headers=_bearer(management)
            ),
            httpx.Client(
                base_url=self.address.inference_url,
                timeout=smoke_timeout,
                headers=_bearer(inference),
            ),
        )

    def reconnect(self) -> None:
        """Fresh connections, for a rollback after a request was cut short."""
        with contextlib.suppress(Exception):  # the old pool may be mid-request; it is dropped
            self.close()
        self.management, self.inference = self._clients()

    def close(self) -> None:
        self.management.close()
        self.inference.close()

    def default_version(self) -> str | None:
        """The version answering ``/predictions/<model>``; None when the model is not registered."""
        response = self.management.get(f"/models/{self.model_name}")
        if response.status_code == 404:
            return None
        self._raise_for(response, "describe the model")
        return str(response.json()[0]["modelVersion"])

    def versions(self) -> dict[str, str]:
        """Every registered version of the model and the URL it was registered from."""
        response = self.management.get(f"/models/{self.model_name}/all")
        if response.status_code == 404:
            return {}
        self._raise_for(response, "list the model's versions")
        return {str(m["modelVersion"]): str(m.get("modelUrl", "")) for m in response.json()}

    def model_urls(self) -> dict[str, str]:
        """``{model name: URL of its default version}`` for every model on the server."""
        urls, token = {}, None
        while True:
            params = {"limit": 100, **({"next_page_token": token} if token else {})}
            response = self.management.get("/models", params=params)
            self._raise_for(response, "list the models")
            body = response.json()
            urls.update({m["modelName"]: m.get("modelUrl", "") for m in body.get("models", [])})
            token = body.get("nextPageToken")
            if not token:
                return urls

    def register(self, url: str, version: str, workers: int) -> None:
        response = self.management.post(
            "/models",
            params={
                "url": url,
                "model_name": self.model_name,
                "initial_workers": workers,
                "synchronous": "true",
            },
        )
        self._raise_for(response, f"register version {version} from {url}")

    def scale(self, version: str, workers: int) -> None:
        response = self.management.put(
            f"/models/{self.model_name}/{version}",
            params={"min_worker": workers, "max_worker": workers, "synchronous": "true"},
        )
        self._raise_for(response, f"scale version {version} to {workers} worker(s)")

    def predict(self, version: str, text: str) -> object:
        """The parsed JSON answer of one version to one prompt."""
        response = self.inference.post(
            f"/predictions/{self.model_name}/{version}", json={"text": text}
        )
        self._raise_for(response, f"get a prediction from version {version}", "inference")
        try:
            return response.json()
        except ValueError:
            raise ServerError(
                f"{self.name}: version {version} answered HTTP {response.status_code} with a "
                f"body that is not JSON: {response.text[:120]!r}"
            ) from None

    def set_default(self, version: str) -> None:
        response = self.management.put(f"/models/{self.model_name}/{version}/set-default")
        self._raise_for(response, f"make version {version} the default")

    def unregister(self, version: str) -> None:
        response = self.management.delete(f"/models/{self.model_name}/{version}")
        self._raise_for(response, f"unregister version {version}")

    def _raise_for(self, response: httpx.Response, action: str, api: str = "management") -> None:
        if response.status_code < 300:
            return
        try:
            detail = str(response.json().get("message", response.text))
        except (ValueError, AttributeError):
            detail = response.text
        hint = ""
        if "InvalidKey" in response.text or "Token Authorization" in response.text:
            token, env = (
                (self._tokens[0], MANAGEMENT_TOKEN_ENV)
                if api == "management"
                else (self._tokens[1], INFERENCE_TOKEN_ENV)
            )
            hint = (
                f" (no {api} key was sent: set {env} or a key file)"
                if token is None
                else f" (the {api} key was refused: check {env} or the key file)"
            )
        raise ServerError(
            f"{self.name}: could not {action}: HTTP {response.status_code} {detail[:300]}{hint}"
        )


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}
