"""The Grafana dashboard (components/monitoring/grafana-dashboard.json): valid JSON with unique panel ids, every
query reads metrics the services export (parsed from the kit's and the PlusVibe client's source, as the alert
tests do) and is PromQL that Prometheus accepts (each query checked by promtool as a recording rule), and the
component ships it as a ConfigMap Grafana's dashboard sidecar picks up."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from deploy_support import K8S, kustomize_build
from test_deploy_alerts import kit_metrics, selectors

DASHBOARD = K8S / "components" / "monitoring" / "grafana-dashboard.json"


def _queries() -> list[tuple[str, str]]:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in board["panels"] for target in panel["targets"]]


def test_the_dashboard_is_valid_json_with_unique_panels_and_a_namespace_variable() -> None:
    board = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "namespace"}
    assert all(p["datasource"]["uid"] == "${datasource}" for p in board["panels"])


def test_every_query_reads_exported_metrics_in_the_selected_namespace() -> None:
    exported = kit_metrics()
    for title, expr in _queries():
        metrics, _grouping = selectors(expr.replace("$namespace", "ns"))
        assert metrics, title
        for name, matchers in metrics:
            assert name in exported, (title, name)
            assert "namespace" in matchers, (title, name)


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: bash deploy/local/setup-promtool.sh installs it"
    rules = [{"record": f"dashboard:panel_{i}", "expr": expr.replace("$namespace", "outreach")}
             for i, (_title, expr) in enumerate(_queries())]
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run([promtool, "check", "rules", "queries.yaml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_component_ships_the_dashboard_as_a_sidecar_configmap() -> None:
    docs = kustomize_build(K8S / "overlays" / "prod")
    maps = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("outreach-grafana-dashboard")]
    assert len(maps) == 1
    assert maps[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(maps[0]["data"]["grafana-dashboard.json"]) == json.loads(DASHBOARD.read_text())
