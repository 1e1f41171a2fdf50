"""TorchServe's settings in the cluster come from conf/serve: the ConfigMap holds its files as they
are, and the cluster adds only the listening addresses. The KServe layout's config.properties,
which cannot be generated from conf/serve, agrees with it on every key they share."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "conf" / "serve"
OVERRIDE = ROOT / "deploy" / "k8s" / "base" / "override.properties"
KSERVE_CONFIG = ROOT / "deploy" / "k8s" / "overlays" / "kserve" / "storage" / "config"
ADDRESSES = {"inference_address", "management_address", "metrics_address"}
# What the KServe runtime's layout requires and the reason is written beside each in the file.
KSERVE_OWN = ADDRESSES | {
    "disable_token_authorization",
    "enable_envvars_config",
    "model_store",
    "model_snapshot",
}


def properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


def served() -> dict[str, str]:
    return properties((SERVE / "config.properties").read_text(encoding="utf-8"))


def test_cluster_config_map_holds_conf_serve_as_it_is(serving: list[dict]) -> None:
    (config_map,) = [
        r
        for r in serving
        if r["kind"] == "ConfigMap" and r["metadata"]["name"].startswith("torchserve-config-")
    ]
    data = config_map["data"]
    assert set(data) == {"config.properties", "log4j2.xml", "override.properties"}
    for name in ("config.properties", "log4j2.xml"):
        assert data[name] == (SERVE / name).read_text(encoding="utf-8"), name
    assert data["override.properties"] == OVERRIDE.read_text(encoding="utf-8")


def test_cluster_override_only_opens_the_addresses_on_the_same_ports() -> None:
    override = properties(OVERRIDE.read_text(encoding="utf-8"))
    assert set(override) == ADDRESSES
    for key, value in override.items():
        default = urlsplit(served()[key])
        assert default.hostname == "127.0.0.1", f"conf/serve's {key} must stay on loopback"
        assert urlsplit(value).hostname == "0.0.0.0" and urlsplit(value).port == default.port


def test_compose_override_matches_the_cluster_override() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    content = compose["configs"]["torchserve-override"]["content"]
    assert properties(content) == properties(OVERRIDE.read_text(encoding="utf-8"))


def test_kserve_config_agrees_with_conf_serve_on_every_key_it_shares() -> None:
    kserve = properties((KSERVE_CONFIG / "config.properties").read_text(encoding="utf-8"))
    shared = (set(kserve) & set(served())) - KSERVE_OWN
    assert shared >= {"job_queue_size", "default_response_timeout", "max_request_size", "vmargs"}
    assert {k: kserve[k] for k in shared} == {k: served()[k] for k in shared}
    assert set(kserve) - set(served()) <= KSERVE_OWN, "a setting conf/serve does not know"
    assert kserve["model_store"] == "/mnt/models/model-store"


def test_kserve_snapshot_serves_the_model_as_model_config_does_but_one_request_a_batch() -> None:
    kserve = properties((KSERVE_CONFIG / "config.properties").read_text(encoding="utf-8"))
    model_config = yaml.safe_load((SERVE / "model-config.yaml").read_text(encoding="utf-8"))
    (versions,) = json.loads(kserve["model_snapshot"])["models"].values()
    (snapshot,) = versions.values()
    assert list(json.loads(kserve["model_snapshot"])["models"]) == ["intent_classifier"]
    assert snapshot["marName"] == "intent_classifier.mar" and snapshot["defaultVersion"] is True
    for key in ("minWorkers", "maxWorkers", "maxBatchDelay", "responseTimeout"):
        assert snapshot[key] == model_config[key], key
    # TorchServe's KServe envelope reads only the first request of a batch.
    assert snapshot["batchSize"] == 1


def test_kserve_runtime_is_the_torchserve_release_the_archive_is_built_with(rendered: dict) -> None:
    (service,) = [r for r in rendered["kserve"] if r["kind"] == "InferenceService"]
    model = service["spec"]["predictor"]["model"]
    constraints = (ROOT / "requirements" / "constraints.txt").read_text(encoding="utf-8")
    pinned = re.search(r"^torchserve==(\S+)$", constraints, re.MULTILINE)
    assert pinned and model["runtimeVersion"] == pinned.group(1)
    assert model["runtime"] == "kserve-torchserve"
    assert model["modelFormat"]["name"] == "pytorch" and model["protocolVersion"] == "v1"
    assert model["storageUri"].endswith(".tar.gz"), "KServe unpacks an archive of the layout"
