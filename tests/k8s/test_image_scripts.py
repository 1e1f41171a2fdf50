"""The scripts the serving image runs beside TorchServe, against small local HTTP servers:
ping.py (the probes) authenticates with the key file and renews keys about to expire;
fetch_model.py (the init container) keeps an archive only when its sha256 is the expected one."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

IMAGE = Path(__file__).resolve().parents[2] / "deploy" / "image"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, IMAGE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ping = load("ping")
fetch_model = load("fetch_model")


class FakeTorchServe:
    """/ping and /token as TorchServe 0.12 answers them, with its key file on disk."""

    def __init__(self, key_file: Path, expires_in: timedelta) -> None:
        self.key_file = key_file
        self.keys = {"inference": "inf-1", "management": "man-1", "API": "api-1"}
        self.renewed: list[str] = []
        self.write(expires_in)

    def write(self, expires_in: timedelta) -> None:
        # Java's Instant.toString(): nanoseconds and a Z.
        stamp = (datetime.now(UTC) + expires_in).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
        self.key_file.write_text(
            json.dumps(
                {
                    "management": {"key": self.keys["management"], "expiration time": stamp},
                    "inference": {"key": self.keys["inference"], "expiration time": stamp},
                    "API": {"key": self.keys["API"]},
                }
            ),
            encoding="utf-8",
        )

    def answer(self, path: str, authorization: str | None) -> tuple[int, dict]:
        if path == "/ping" and authorization == f"Bearer {self.keys['inference']}":
            return 200, {"status": "Healthy"}
        if path.startswith("/token?type=") and authorization == f"Bearer {self.keys['API']}":
            kind = path.split("=", 1)[1]
            self.keys[kind] = self.keys[kind][:-1] + str(int(self.keys[kind][-1]) + 1)
            self.renewed.append(kind)
            self.write(timedelta(hours=12))
            return 200, {}
        return 400, {"code": 400, "type": "InvalidKeyException"}


@contextlib.contextmanager
def serve(answer) -> Iterator[str]:
    """A local HTTP server answering each GET with ``answer(path, headers)``; gives its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answer(self.path, self.headers)
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def torchserve(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple]:
    expires_in = getattr(request, "param", timedelta(hours=12))
    fake = FakeTorchServe(tmp_path / "key_file.json", expires_in)
    with serve(lambda path, headers: fake.answer(path, headers.get("Authorization"))) as url:
        yield (
            fake,
            ["--inference-url", url, "--management-url", url, "--key-file", str(fake.key_file)],
        )


def test_ping_sends_the_inference_key_from_the_key_file(torchserve: tuple) -> None:
    fake, args = torchserve
    assert ping.main(args) == 0
    fake.keys["inference"] = "changed-by-someone-else"
    assert ping.main(args) == 1


def test_ping_fails_while_there_is_no_key_file(torchserve: tuple, tmp_path: Path) -> None:
    _, args = torchserve
    assert ping.main([*args, "--key-file", str(tmp_path / "missing.json")]) == 1


@pytest.mark.parametrize("torchserve", [timedelta(minutes=2)], indirect=True)
def test_renew_replaces_keys_about_to_expire_and_pings_with_the_new_one(torchserve: tuple) -> None:
    fake, args = torchserve
    assert ping.main([*args, "--renew"]) == 0
    assert fake.renewed == ["inference", "management"]
    assert json.loads(fake.key_file.read_text())["inference"]["key"] == "inf-2"


def test_renew_leaves_keys_that_last(torchserve: tuple) -> None:
    fake, args = torchserve
    assert ping.main([*args, "--renew"]) == 0
    assert fake.renewed == []


ARCHIVE = b"PK\x03\x04 a model archive" * 1000


@pytest.fixture
def artifact_url() -> Iterator[str]:
    def answer(path: str, headers: object) -> tuple[int, bytes]:
        return (200, ARCHIVE) if path == "/intent_classifier.mar" else (404, b"not found")

    with serve(answer) as url:
        yield url


def test_fetch_keeps_an_archive_whose_sha256_matches(artifact_url: str, tmp_path: Path) -> None:
    destination = tmp_path / "store" / "intent_classifier.mar"
    expected = hashlib.sha256(ARCHIVE).hexdigest()
    assert fetch_model.fetch(f"{artifact_url}/intent_classifier.mar", expected, destination)
    assert destination.read_bytes() == ARCHIVE
    assert list(destination.parent.iterdir()) == [destination]


@pytest.mark.parametrize(
    ("path", "expected", "reason"),
    [
        ("/intent_classifier.mar", "0" * 64, "expected 0000"),
        ("/intent_classifier.mar", "set-from-model_store/intent_classifier.json", "64 hex"),
        ("/missing.mar", hashlib.sha256(ARCHIVE).hexdigest(), "could not download"),
    ],
)
def test_fetch_refuses_and_leaves_nothing_behind(
    artifact_url: str, tmp_path: Path, path: str, expected: str, reason: str
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    with pytest.raises(fetch_model.FetchError, match=reason):
        fetch_model.fetch(f"{artifact_url}{path}", expected, store / "intent_classifier.mar")
    assert list(store.iterdir()) == []


def test_fetch_main_exits_non_zero_on_a_mismatch(
    artifact_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_URL", f"{artifact_url}/intent_classifier.mar")
    monkeypatch.setenv("MODEL_SHA256", "f" * 64)
    monkeypatch.setenv("MODEL_STORE", str(tmp_path))
    assert fetch_model.main() == 1
    assert not (tmp_path / "intent_classifier.mar").exists()
