"""The PostgreSQL connection budget (docs/KUBERNETES-RUNBOOK.md "Connection budget"), from the rendered overlays:

- dev's PostgreSQL (its max_connections set explicitly) holds the budget at max scale during a rollout, with the
  headroom for migrations, operators and the superuser reserve;
- the runbook's tables are exactly the ones deploy/k8s/budget.py computes from the render (they cannot drift);
- every container that talks to the database carries its pool as `<SERVICE>_DB_POOL_SIZE` (the name its
  service's settings read), and the figure is what the process would choose itself: the entrypoint's own
  derivation (servicekit.process.pooling.size_pool on the bootstrapped service, whose consumers and registered loops
  are counted) equals the manifest's.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from deploy_support import K8S, OVERLAYS, SERVICES, groups_from_code, objects, settings_class

from plusvibe.port import PlusVibePort
from plusvibe.settings import PlusVibeSettings
from servicekit.process.pooling import size_pool

sys.path.insert(0, str(K8S))
import budget  # deploy/k8s/budget.py


def _budgets(rendered: dict[str, list[dict[str, Any]]]) -> dict[str, budget.Budget]:
    return {overlay: budget.budget(overlay, rendered[overlay]) for overlay in OVERLAYS}


def test_dev_postgres_holds_the_max_scale_budget(rendered: dict[str, list[dict[str, Any]]]) -> None:
    dev = _budgets(rendered)["dev"]
    postgres = objects(rendered["dev"], "Deployment")["postgres"]["spec"]["template"]["spec"]["containers"][0]
    assert any(str(arg).startswith("max_connections=") for arg in postgres.get("args", [])), \
        "dev's PostgreSQL must set max_connections explicitly (its default, 100, is below the budget)"
    assert dev.max_connections is not None
    assert dev.at_min <= dev.at_max <= dev.at_rollout
    assert dev.required_max_connections == dev.at_rollout + dev.headroom + dev.reserved
    assert dev.required_max_connections <= dev.max_connections, budget.table(dev)


def test_the_budget_counts_every_database_deployment_with_its_scaling(rendered: dict[str, list[dict[str, Any]]]
                                                                      ) -> None:
    for overlay, b in _budgets(rendered).items():
        rows = {r.deployment: r for r in b.rows}
        assert set(rows) == {f"{svc}-{part}" for svc in SERVICES for part in ("api", "consumers", "relay")}, overlay
        scaled = objects(rendered[overlay], "ScaledObject")
        for svc in SERVICES:
            consumers = rows[f"{svc}-consumers"]
            spec = scaled[f"{svc}-consumers"]["spec"]
            assert (consumers.min_replicas, consumers.max_replicas) == (spec["minReplicaCount"], spec["maxReplicaCount"])
            relay = rows[f"{svc}-relay"]
            assert (relay.max_replicas, relay.surge, relay.own) == (1, 0, 1), (overlay, relay)  # Recreate; LISTEN
        assert b.migration_jobs == len(SERVICES), overlay
    prod_hpa = objects(rendered["prod"], "HorizontalPodAutoscaler")
    prod = {r.deployment: r for r in _budgets(rendered)["prod"].rows}
    for svc in SERVICES:
        spec = prod_hpa[f"{svc}-api"]["spec"]
        assert (prod[f"{svc}-api"].min_replicas, prod[f"{svc}-api"].max_replicas) == (spec["minReplicas"],
                                                                                      spec["maxReplicas"])


def test_runbook_tables_are_the_computed_ones(rendered: dict[str, list[dict[str, Any]]]) -> None:
    documented = budget.runbook_tables(budget.RUNBOOK_FILE.read_text())
    computed = budget.tables(_budgets(rendered)[overlay] for overlay in OVERLAYS)
    assert documented == computed, "run: .venv/bin/python deploy/k8s/budget.py --write"


def test_a_database_container_without_a_pool_figure_is_an_error() -> None:
    deployment = {"kind": "Deployment", "metadata": {"name": "x-api", "labels": {"app.kubernetes.io/component": "api"}},
                  "spec": {"template": {"spec": {"containers": [
                      {"name": "api", "envFrom": [{"secretRef": {"name": "outreach-secrets"}}], "env": []}]}}}}
    with pytest.raises(ValueError, match="DB_POOL_SIZE"):
        budget.budget("synthetic", [deployment])


def test_rollout_surge_and_scaler_defaults() -> None:
    def deployment(name: str, strategy: dict[str, Any] | None) -> dict[str, Any]:
        spec: dict[str, Any] = {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "c", "env": [{"name": "X_DB_POOL_SIZE", "value": "5"}, {"name": "DATABASE_URL", "value": "u"}]}]}}}
        if strategy is not None:
            spec["strategy"] = strategy
        return {"kind": "Deployment", "metadata": {"name": name, "labels": {}}, "spec": spec}

    docs = [deployment("rolling", None), deployment("recreate", {"type": "Recreate"}),
            deployment("surge2", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2}}),
            {"kind": "ScaledObject", "spec": {"scaleTargetRef": {"name": "rolling"}, "maxReplicaCount": 7}}]
    rows = {r.deployment: r for r in budget.budget("synthetic", docs).rows}
    assert (rows["rolling"].min_replicas, rows["rolling"].max_replicas, rows["rolling"].surge) == (0, 7, 2)  # ⌈25 % of 7⌉
    assert (rows["recreate"].max_replicas, rows["recreate"].surge, rows["recreate"].at_rollout) == (2, 0, 10)
    assert rows["surge2"].at_rollout == 5 * (2 + 2)


def _bootstrapped(service: str, data_dir: Path) -> Any:
    """The service as its processes build it (SQLite under `data_dir`: nothing connects), PlusVibe configured as
    in the overlays (the leads template check runs only then), with a stand-in port that is never called."""
    settings = settings_class(service)(database_url=f"sqlite+aiosqlite:///{data_dir / service}.db", data_dir=data_dir)
    bootstrap = importlib.import_module(f"{service}.bootstrap").bootstrap
    port = cast(PlusVibePort, object())
    if service == "leads":
        return bootstrap(settings, plusvibe=port, plusvibe_settings=PlusVibeSettings(api_key="k", workspace_id="w"))
    if service in ("writeback", "unibox"):
        return bootstrap(settings, plusvibe=port)
    return bootstrap(settings)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_container_pool_is_the_figure_its_process_derives(rendered: dict[str, list[dict[str, Any]]], overlay: str,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DB_POOL_SIZE", raising=False)
    groups = groups_from_code()
    deployments = objects(rendered[overlay], "Deployment")
    for service in SERVICES:
        env_name = f"{settings_class(service).model_config['env_prefix']}DB_POOL_SIZE"
        monkeypatch.delenv(env_name, raising=False)
        for process in ("api", "consumers", "relay"):
            container = deployments[f"{service}-{process}"]["spec"]["template"]["spec"]["containers"][0]
            figures = [e["value"] for e in container["env"] if e["name"].endswith("DB_POOL_SIZE")]
            assert [e["name"] for e in container["env"] if e["name"].endswith("DB_POOL_SIZE")] == [env_name]
            svc = _bootstrapped(service, tmp_path)
            if process == "consumers":
                assert len(svc.runtime.consumers) == len(groups.get(service, {}))
            derived = size_pool(svc.runtime, process)  # the consumers' pool counts the loops the bootstrap registered
            assert figures == [str(derived)], (overlay, service, process)


def test_the_pool_env_overrides_the_process_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITS_DB_POOL_SIZE", "13")
    svc = _bootstrapped("audits", tmp_path)
    assert size_pool(svc.runtime, "relay") == 13
    monkeypatch.delenv("AUDITS_DB_POOL_SIZE")
    monkeypatch.setenv("DB_POOL_SIZE", "6")
    assert size_pool(_bootstrapped("audits", tmp_path).runtime, "api") == 6

