"""compose.yaml is a valid Compose file (the Compose specification's JSON schema, kept in
deploy/schemas), publishes nothing beyond 127.0.0.1 and shares TorchServe's key file with the API
without putting a key in the file."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRET_LIKE = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads((ROOT / "deploy" / "schemas" / "compose-spec.json").read_text("utf-8"))
    return jsonschema.Draft7Validator(schema)


def test_compose_file_is_valid_and_a_misspelt_key_is_not(
    compose: dict, validator: jsonschema.Draft7Validator
) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == [], "\n".join(errors)
    broken = copy.deepcopy(compose)
    broken["services"]["torchserve"]["read_onyl"] = True
    assert not validator.is_valid(broken)


def test_runs_torchserve_the_api_mlflow_and_prometheus(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"torchserve", "api", "mlflow", "prometheus"}
    assert services["torchserve"]["build"]["target"] == "serving"
    assert services["api"]["build"]["target"] == "api"
    assert "--serve-artifacts" in services["mlflow"]["command"]
    assert (
        "./deploy/monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro"
        in (services["prometheus"]["volumes"])
    )


def test_every_published_port_binds_loopback(compose: dict) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port}"


def test_images_name_an_explicit_tag(compose: dict) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        tag = image.rpartition(":")[2]
        assert "@sha256:" in image or (tag and "/" not in tag and tag != "latest"), name


def test_api_reads_the_key_file_torchserve_writes_and_no_key_is_written_here(
    compose: dict,
) -> None:
    torchserve, api = compose["services"]["torchserve"], compose["services"]["api"]
    key_file = Path(api["environment"]["TORCHSERVE_KEY_FILE"])
    shared = f"torchserve-work:{key_file.parent}"
    assert shared in torchserve["volumes"] and f"{shared}:ro" in api["volumes"]
    assert api["environment"]["TORCHSERVE_HOST"] == "torchserve"
    assert api["depends_on"]["torchserve"]["condition"] == "service_healthy"
    assert "./model_store:/srv/model-store:ro" in torchserve["volumes"]
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            assert not SECRET_LIKE.search(variable) or variable.endswith("_FILE"), name
    assert [e["path"] for e in api["env_file"]] == ["api.env"]


def test_servers_run_read_only_without_capabilities(compose: dict) -> None:
    for name in ("torchserve", "api"):
        service = compose["services"][name]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert "/tmp" in service["tmpfs"], name
