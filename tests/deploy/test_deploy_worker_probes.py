"""Every worker Deployment (consumers, relay) in every overlay is probed on the health port its process opens:
the probes name a declared containerPort, and the container's env makes the service's settings bind that port
on all interfaces (servicekit.process.worker_health)."""

from __future__ import annotations

from typing import Any

import pytest
from deploy_support import OVERLAYS, SERVICES, settings_class

WORKER_PARTS = ("consumers", "relay")
# The services whose consumers call PlusVibe: their credentials are appended to the workers' env, not instead of it.
PLUSVIBE_CONSUMERS = ("leads", "writeback", "unibox")


def _worker_containers(docs: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for doc in docs:
        labels = doc["metadata"].get("labels", {})
        if doc["kind"] == "Deployment" and labels.get("app.kubernetes.io/component") in WORKER_PARTS:
            for container in doc["spec"]["template"]["spec"]["containers"]:
                found.append((labels["app.kubernetes.io/name"], doc["metadata"]["name"], container))
    return found


def _probe_port(container: dict[str, Any], probe: str) -> int:
    """The containerPort a probe's httpGet targets, which must be declared (by name or by number)."""
    port = container[probe]["httpGet"]["port"]
    declared = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    if isinstance(port, str):
        assert port in declared, (container["name"], probe, port, declared)
        return int(declared[port])
    assert port in {p["containerPort"] for p in container.get("ports", [])}, (container["name"], probe, port)
    return int(port)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_its_worker_deployments_in_the_render(rendered: dict[str, list[dict[str, Any]]],
                                                                overlay: str) -> None:
    names = {name for _, name, _ in _worker_containers(rendered[overlay])}
    assert names == {f"{svc}-{part}" for svc in SERVICES for part in WORKER_PARTS}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_are_probed_live_and_ready_on_a_declared_port(rendered: dict[str, list[dict[str, Any]]],
                                                              overlay: str) -> None:
    for _, name, container in _worker_containers(rendered[overlay]):
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready", name
        live_port = _probe_port(container, "livenessProbe")
        assert _probe_port(container, "readinessProbe") == live_port, name
        if "startupProbe" in container:
            assert container["startupProbe"]["httpGet"]["path"] == "/health/live", name
            assert _probe_port(container, "startupProbe") == live_port, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_liveness_is_lenient(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    """A slow batch must not restart a worker: at least 30 s of failures, each probe allowed 3 s."""
    for _, name, container in _worker_containers(rendered[overlay]):
        live = container["livenessProbe"]
        assert live.get("timeoutSeconds", 1) >= 3, name
        assert live.get("periodSeconds", 10) * live.get("failureThreshold", 3) >= 30, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_env_makes_the_service_serve_health_on_the_probed_port(
        rendered: dict[str, list[dict[str, Any]]], overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The env names are the ones the service's settings read (its own prefix), and the port they set is the
    port the probes target; the host is every interface, or the kubelet could not connect."""
    for service, name, container in _worker_containers(rendered[overlay]):
        settings_cls = settings_class(service)
        env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        health_env = {k: v for k, v in env.items() if "WORKER_HEALTH" in k}
        assert health_env, name
        with monkeypatch.context() as patched:
            for key, value in health_env.items():
                patched.setenv(key, value)
            settings = settings_cls()
        assert settings.worker_health_port == _probe_port(container, "livenessProbe"), name
        assert settings.worker_health_host == "0.0.0.0", name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_plusvibe_credentials_are_added_to_the_workers_env_not_in_place_of_it(
        rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    for service, name, container in _worker_containers(rendered[overlay]):
        names = {e["name"] for e in container.get("env", [])}
        assert {f"{service.upper()}_WORKER_HEALTH_PORT", f"{service.upper()}_WORKER_HEALTH_HOST"} <= names, name
        if name in {f"{svc}-consumers" for svc in PLUSVIBE_CONSUMERS}:
            assert {"PLUSVIBE_API_KEY", "PLUSVIBE_WORKSPACE_ID"} <= names, name
