"""Every rendered resource is valid for the API server that will receive it, checked offline:
core kinds against Kubernetes' own schemas (kubernetes-validate, strict: unknown fields fail),
the InferenceService against the KServe CRD kept in deploy/schemas."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

ROOT = Path(__file__).resolve().parents[2]
# The oldest Kubernetes the manifests are written for (deploy/README.md).
KUBERNETES_VERSION = "1.32.0"
KSERVE_SCHEMA = ROOT / "deploy" / "schemas" / "kserve-inferenceservice.json"
KSERVE_GROUP = "serving.kserve.io/"


def strict(schema: object) -> object:
    """``schema`` refusing unknown fields, as ``kubectl apply`` (server-side strict field
    validation) does, except where the CRD keeps unknown fields on purpose."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


@pytest.fixture(scope="module")
def inference_service_validator() -> jsonschema.Draft7Validator:
    schema = strict(json.loads(KSERVE_SCHEMA.read_text(encoding="utf-8")))
    return jsonschema.Draft7Validator(schema)


def kubernetes_errors(resource: dict) -> list[str]:
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        path = "/".join(map(str, err.absolute_path))
        return [f"{resource['kind']}/{resource['metadata']['name']}: {path}: {err.message}"]
    return []


def test_the_overlays_are_cpu_and_kserve_and_each_renders(rendered: dict) -> None:
    assert {"cpu", "kserve"} <= set(rendered)
    for name, resources in rendered.items():
        assert resources, f"overlay {name} renders nothing"


def test_core_resources_are_valid_for_kubernetes(rendered: dict) -> None:
    core = [
        r for rs in rendered.values() for r in rs if not r["apiVersion"].startswith(KSERVE_GROUP)
    ]
    assert {r["kind"] for r in core} >= {
        "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
        "NetworkPolicy", "ConfigMap", "ServiceAccount", "Namespace",
    }  # fmt: skip
    errors = [e for r in core for e in kubernetes_errors(r)]
    assert errors == [], "\n".join(errors)


def test_inference_service_is_valid_for_the_kserve_crd(
    rendered: dict, inference_service_validator: jsonschema.Draft7Validator
) -> None:
    (service,) = [r for r in rendered["kserve"] if r["kind"] == "InferenceService"]
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in inference_service_validator.iter_errors(service)
    ]
    assert errors == [], "\n".join(errors)


def test_validators_refuse_a_misspelt_field(
    serving: list[dict], rendered: dict, inference_service_validator: jsonschema.Draft7Validator
) -> None:
    deployment = copy.deepcopy(next(r for r in serving if r["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "readOnlyRootFileSystem"
    ] = True
    assert kubernetes_errors(deployment)

    service = copy.deepcopy(next(r for r in rendered["kserve"] if r["kind"] == "InferenceService"))
    service["spec"]["predictor"]["model"]["storageURI"] = "s3://bucket/model"
    assert not inference_service_validator.is_valid(service)
