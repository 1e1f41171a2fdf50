"""The serving pod's hardening, as rendered: non-root, read-only root filesystem with emptyDirs
only where TorchServe writes, no privileges, resources, probes that authenticate, secrets only
by reference, a verified model, and the management port closed to all but one namespace label."""

from __future__ import annotations

import re

import pytest

SECRET_LIKE = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
SHA256_IMAGE = re.compile(r"@sha256:[0-9a-f]{64}$")


def containers(pod: dict) -> list[dict]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def container(pod: dict, name: str) -> dict:
    return next(c for c in containers(pod) if c["name"] == name)


def volumes(pod: dict) -> dict[str, dict]:
    return {v["name"]: v for v in pod["volumes"]}


def mounted_at(pod: dict, name: str, path: str) -> tuple[dict, dict]:
    """The mount of container ``name`` holding ``path``, and its volume."""
    mounts = [m for m in container(pod, name)["volumeMounts"] if path.startswith(m["mountPath"])]
    assert mounts, f"{name}: nothing mounted at {path}"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    return mount, volumes(pod)[mount["name"]]


def env(c: dict) -> dict[str, dict]:
    return {e["name"]: e for e in c.get("env", [])}


def test_pod_runs_as_a_fixed_non_root_user_with_the_default_seccomp_profile(pod: dict) -> None:
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 10001 and security["runAsGroup"] == 10001
    assert security["fsGroup"] == 10001
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False


def test_every_container_is_locked_down_and_sized(pod: dict) -> None:
    for c in containers(pod):
        security = c["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, c["name"]
        assert security["readOnlyRootFilesystem"] is True, c["name"]
        assert security["capabilities"]["drop"] == ["ALL"], c["name"]
        assert "add" not in security["capabilities"], c["name"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][bound]), f"{c['name']} {bound}"


def test_writable_mounts_are_size_limited_emptydirs(pod: dict) -> None:
    for c in containers(pod):
        for mount in c["volumeMounts"]:
            volume = volumes(pod)[mount["name"]]
            if not mount.get("readOnly"):
                assert "emptyDir" in volume, f"{c['name']} writes to {mount['mountPath']}"
                assert volume["emptyDir"].get("sizeLimit"), mount["name"]


def test_torchserve_writes_only_to_its_workdir_temp_logs_and_home(pod: dict) -> None:
    torchserve = container(pod, "torchserve")
    variables = {name: e["value"] for name, e in env(torchserve).items() if "value" in e}
    # key_file.json lands in the working directory; logs, temp files and caches in the others.
    writable = [
        torchserve["workingDir"],
        variables["TORCHSERVE_KEY_FILE"],
        variables["LOG_LOCATION"],
        variables["METRICS_LOCATION"],
        variables["TEMP"],
        variables["HOME"],
    ]
    assert variables["TORCHSERVE_KEY_FILE"] == torchserve["workingDir"] + "/key_file.json"
    for path in writable:
        mount, volume = mounted_at(pod, "torchserve", path)
        assert not mount.get("readOnly") and "emptyDir" in volume, path
    config, volume = mounted_at(pod, "torchserve", "/etc/torchserve/config.properties")
    assert config.get("readOnly") and volume["configMap"]["name"].startswith("torchserve-config")


def test_model_store_is_filled_by_the_init_container_and_read_only_to_torchserve(
    pod: dict, serving: list[dict]
) -> None:
    (fetch,) = pod["initContainers"]
    assert fetch["command"] == ["python", "/opt/serving/fetch_model.py"]
    store = env(fetch)["MODEL_STORE"]["value"]
    init_mount, volume = mounted_at(pod, fetch["name"], store)
    assert not init_mount.get("readOnly") and "emptyDir" in volume
    serve_mount, _ = mounted_at(pod, "torchserve", store)
    assert serve_mount["name"] == init_mount["name"] and serve_mount["readOnly"] is True

    # URL and expected sha256 come from the ConfigMap kustomize generates (hash-suffixed, so a
    # new model rolls the pods).
    (source,) = fetch["envFrom"]
    name = source["configMapRef"]["name"]
    (config_map,) = [
        r for r in serving if r["kind"] == "ConfigMap" and r["metadata"]["name"] == name
    ]
    assert re.fullmatch(r"model-[a-z0-9]{10}", name)
    assert {"MODEL_URL", "MODEL_SHA256"} <= set(config_map["data"])


@pytest.mark.parametrize("probe", ["startupProbe", "readinessProbe", "livenessProbe"])
def test_torchserve_probes_authenticate_with_the_key_file(pod: dict, probe: str) -> None:
    # TorchServe 0.12 refuses /ping without a key; an httpGet probe cannot read one.
    command = container(pod, "torchserve")[probe]["exec"]["command"]
    assert command[:2] == ["python", "/opt/serving/ping.py"]
    assert ("--renew" in command) == (probe == "readinessProbe")


def test_keys_and_tokens_come_only_from_secrets(rendered: dict) -> None:
    for resources in rendered.values():
        assert not [r for r in resources if r["kind"] == "Secret"], "a Secret with values in git"
        for resource in resources:
            for key in resource.get("data", {}):
                assert not SECRET_LIKE.search(key), f"{resource['metadata']['name']}: {key}"
            pod = resource.get("spec", {}).get("template", {}).get("spec")
            for c in containers(pod) if pod else []:
                for name, variable in env(c).items():
                    if SECRET_LIKE.search(name) and not name.endswith("_FILE"):
                        assert "secretKeyRef" in variable.get("valueFrom", {}), (
                            f"{c['name']} {name}"
                        )


def test_images_are_pinned_to_a_tag_or_digest(rendered: dict) -> None:
    for resources in rendered.values():
        for resource in resources:
            pod = resource.get("spec", {}).get("template", {}).get("spec")
            for c in containers(pod) if pod else []:
                image = c["image"]
                name, _, tag = image.rpartition(":")
                tagged = name and tag and "/" not in tag and tag != "latest"
                assert SHA256_IMAGE.search(image) or tagged, image


def test_management_port_is_reachable_only_from_labelled_namespaces(serving: list[dict]) -> None:
    policies = [
        p
        for p in serving
        if p["kind"] == "NetworkPolicy"
        and p["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "torchserve"}
    ]
    open_to: dict[int, list[dict]] = {}
    for policy in policies:
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for rule in policy["spec"]["ingress"]:
            assert rule.get("ports"), f"{policy['metadata']['name']}: a rule opens every port"
            for port in rule["ports"]:
                open_to.setdefault(port["port"], []).extend(rule["from"])
    assert open_to[8080] == [{"namespaceSelector": {}}]
    assert open_to[8082] == [{"namespaceSelector": {}}]
    (peer,) = open_to[8081]
    assert set(peer) == {"namespaceSelector"} and peer["namespaceSelector"]["matchLabels"]


def test_services_keep_management_apart(serving: list[dict]) -> None:
    ports = {
        s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]}
        for s in serving
        if s["kind"] == "Service"
    }
    assert ports["torchserve"] == {8080, 8082}
    assert ports["torchserve-management"] == {8081}


def test_autoscaler_and_disruption_budget_cover_the_deployment(serving: list[dict]) -> None:
    (deployment,) = [r for r in serving if r["kind"] == "Deployment"]
    (hpa,) = [r for r in serving if r["kind"] == "HorizontalPodAutoscaler"]
    (pdb,) = [r for r in serving if r["kind"] == "PodDisruptionBudget"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2 and "replicas" not in deployment["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] == 1


def test_namespace_enforces_the_restricted_pod_security_standard(serving: list[dict]) -> None:
    (namespace,) = [r for r in serving if r["kind"] == "Namespace"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
