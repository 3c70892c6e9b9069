"""Every overlay renders with kustomize and every object passes the Kubernetes schemas of a pinned version
(kubernetes-validate, bundled schemas, offline; the custom resources, Strimzi and KEDA, are validated against
their committed CRDs in test_deploy_crd_schemas.py); references inside a render resolve; the pods are hardened
and probed."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
from deploy_support import OVERLAYS, SERVICES

KUBERNETES_VERSION = "1.32.0"
# Custom resources: validated against their committed CRDs (test_deploy_crd_schemas.py, test_deploy_alerts.py).
CUSTOM_GROUPS = ("kafka.strimzi.io/", "keda.sh/", "monitoring.coreos.com/")

def _objects(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _named(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _objects(docs, kind)}


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_builtin_object_passes_the_kubernetes_schema(rendered: dict[str, list[dict[str, Any]]],
                                                           overlay: str) -> None:
    builtin = [d for d in rendered[overlay] if not d["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert len(builtin) > 20
    for doc in builtin:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_validation_rejects_a_misspelt_field(rendered: dict[str, list[dict[str, Any]]]) -> None:
    broken = copy.deepcopy(_named(rendered["prod"], "Deployment")["leads-api"])
    _containers(broken)[0]["readinesProbe"] = _containers(broken)[0].pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_api_consumers_and_relay_deployments(rendered: dict[str, list[dict[str, Any]]],
                                                              overlay: str) -> None:
    deployments = _named(rendered[overlay], "Deployment")
    services = _named(rendered[overlay], "Service")
    for svc in SERVICES:
        commands = {part: _containers(deployments[f"{svc}-{part}"])[0]["command"]
                    for part in ("api", "consumers", "relay")}
        assert f"{svc}.entrypoints.http:app_factory" in commands["api"]
        assert commands["consumers"][-1] == f"{svc}.entrypoints.consumers"
        assert commands["relay"][-1] == f"{svc}.entrypoints.relay"
        assert f"{svc}-api" in services
    assert "dashboard" in deployments and "dashboard" in services


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_non_root_read_only_without_capabilities(rendered: dict[str, list[dict[str, Any]]],
                                                          overlay: str) -> None:
    """Every pod of the app (Deployments and the migration Jobs), init containers included."""
    workloads = {**_named(rendered[overlay], "Deployment"), **_named(rendered[overlay], "Job")}
    assert any(name.endswith("-consumers") for name in workloads)
    assert any("-migrate" in name for name in workloads)
    for name, workload in workloads.items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert sc["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, container["name"])
            assert "memory" in container["resources"]["limits"], (name, container["name"])
            assert "cpu" in container["resources"]["requests"], (name, container["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_apis_are_probed_on_the_health_endpoints(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    deployments = _named(rendered[overlay], "Deployment")
    for svc in SERVICES:
        api = _containers(deployments[f"{svc}-api"])[0]
        assert api["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert api["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert api["startupProbe"]["httpGet"]["path"] == "/health/live"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_relays_stay_single_and_never_overlap(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    deployments = _named(rendered[overlay], "Deployment")
    scaled = {d["spec"]["scaleTargetRef"]["name"] for d in _objects(rendered[overlay], "ScaledObject")}
    hpas = {d["spec"]["scaleTargetRef"]["name"] for d in _objects(rendered[overlay], "HorizontalPodAutoscaler")}
    for svc in SERVICES:
        relay = deployments[f"{svc}-relay"]
        assert relay["spec"]["replicas"] == 1
        assert relay["spec"]["strategy"]["type"] == "Recreate"
        assert f"{svc}-relay" not in scaled | hpas


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_reference_resolves_inside_the_render(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    """ConfigMaps and Secrets referenced by pods exist (by their hashed names) unless the overlay declares
    them external; Services select pods; the Ingress and the autoscalers point at existing objects."""
    docs = rendered[overlay]
    external_secrets = {"outreach-secrets", "outreach-migrator", "plusvibe-credentials"} if overlay == "prod" else set()
    # Made by the Strimzi operators: one Secret per KafkaUser (its name) and the cluster CA of the Kafka cluster.
    operator_secrets = set(_named(docs, "KafkaUser")) | {"outreach-cluster-ca-cert"}
    configmaps = set(_named(docs, "ConfigMap"))
    secrets = set(_named(docs, "Secret")) | external_secrets | operator_secrets
    deployments = _named(docs, "Deployment")
    for name, deployment in {**deployments, **_named(docs, "Job")}.items():
        pod = deployment["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps, (name, source)
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets, (name, source)
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in secrets, (name, ref)
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps, (name, volume)
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, (name, volume)
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]
    services = _named(docs, "Service")
    for name, service in services.items():
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), name
    for rule in _named(docs, "Ingress")["outreach"]["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] in services, path
    for kind in ("ScaledObject", "HorizontalPodAutoscaler"):
        for obj in _objects(docs, kind):
            assert obj["spec"]["scaleTargetRef"]["name"] in deployments, obj["metadata"]["name"]


def test_dev_runs_one_replica_debug_logs_and_the_simulator(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["dev"]
    deployments = _named(docs, "Deployment")
    # The ops shell idles at 0 until an operator scales it up (base/ops.yaml).
    assert deployments.pop("outreach-ops")["spec"]["replicas"] == 0
    assert all(d["spec"]["replicas"] == 1 for d in deployments.values())
    assert "plusvibe-simulator" in deployments
    config = next(c for n, c in _named(docs, "ConfigMap").items() if n.startswith("outreach-config-"))
    assert config["data"]["LOG_LEVEL"] == "DEBUG"
    assert config["data"]["PLUSVIBE_BASE_URL"] == "http://plusvibe-simulator:8080/api/v1"
    assert all(t["spec"]["replicas"] == 1 for t in _objects(docs, "KafkaTopic"))


def test_prod_scales_out_with_budgets_and_keeps_secrets_out_of_the_repo(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["prod"]
    deployments = _named(docs, "Deployment")
    hpas = {d["spec"]["scaleTargetRef"]["name"]: d for d in _objects(docs, "HorizontalPodAutoscaler")}
    pdb_selectors = [d["spec"]["selector"]["matchLabels"] for d in _objects(docs, "PodDisruptionBudget")]
    for svc in SERVICES:
        assert deployments[f"{svc}-api"]["spec"]["replicas"] >= 2
        assert hpas[f"{svc}-api"]["spec"]["minReplicas"] >= 2
        for part in ("api", "consumers"):
            labels = deployments[f"{svc}-{part}"]["spec"]["template"]["metadata"]["labels"]
            assert any(sel.items() <= labels.items() for sel in pdb_selectors), f"{svc}-{part} has no PDB"
    assert _objects(docs, "Secret") == []
    assert "plusvibe-simulator" not in deployments
    config = next(c for n, c in _named(docs, "ConfigMap").items() if n.startswith("outreach-config-"))
    assert "PLUSVIBE_BASE_URL" not in config["data"]  # the client's default: the real platform
    assert all(t["spec"]["replicas"] == 3 for t in _objects(docs, "KafkaTopic"))
