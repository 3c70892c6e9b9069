"""components/monitoring: the PrometheusRule reads only metrics (and labels) the kit exports, found by parsing
libs/kit/src/servicekit; every alert is annotated and links a section of docs/KUBERNETES-RUNBOOK.md that exists;
the DLQ age thresholds fire well inside the DLQ retention of the topic registry and the deployed KafkaTopics; the
lag threshold sits above what KEDA scales for; the PodMonitor scrapes exactly the APIs; the objects are valid
for the Prometheus Operator's published CRDs (deploy/k8s/schemas) and the component renders in prod and dev."""

from __future__ import annotations

import ast
import copy
import os
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from crd_support import load_crds, validate
from deploy_support import K8S, ROOT, SERVICES, kustomize_build, objects

from contracts.topics import DLQ_RETENTION_MS

Docs = list[dict[str, Any]]
KIT_SOURCE = ROOT / "libs" / "kit" / "src" / "servicekit"
# Where the services' metrics are declared: the kit, and the PlusVibe client (plusvibe.metrics).
METRIC_SOURCES = (KIT_SOURCE, ROOT / "libs" / "plusvibe" / "src" / "plusvibe")
RUNBOOK = ROOT / "docs" / "KUBERNETES-RUNBOOK.md"
COMPONENT = K8S / "components" / "monitoring"
AGE_METRIC = "kafka_dlq_oldest_pending_age_seconds"
# What the issue asks the rules to cover (which alerts exist, not what the kit exports: that is parsed below).
COVERED = {AGE_METRIC, "kafka_dlq_not_redriven", "readiness_check_up", "kafka_consumer_group_lag", "outbox_backlog",
           "plusvibe_calls_total"}
# Labels the Prometheus Operator puts on every series scraped through a PodMonitor (plus its relabelings' targets).
SCRAPE_LABELS = {"namespace", "pod", "container", "endpoint", "job", "instance"}
SEVERITIES = ("info", "warning", "critical")
# Function, aggregation and keyword tokens of the PromQL the rules use; anything else bare is a metric name.
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
                "group_right", "inf", "nan"}
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"(?<![\w:.\"'])([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?(\s*\()?")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*\"[^\"]*\"")


# --- what the kit exports, from its source -------------------------------------------------------------------

def kit_metrics() -> dict[str, set[str]]:
    """{sample name: label names} of every prometheus_client metric the kit and the PlusVibe client declare
    (`Gauge`, `Counter`, `Histogram`, `*MetricFamily`, ...), parsed from their source with `ast`."""
    kinds = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum", "GaugeMetricFamily",
             "CounterMetricFamily", "HistogramMetricFamily", "SummaryMetricFamily"}
    found: dict[str, set[str]] = {}
    for path in sorted(p for source in METRIC_SOURCES for p in source.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if func not in kinds or not node.args or not isinstance(node.args[0], ast.Constant):
                continue
            name = str(node.args[0].value)
            label_node = next((k.value for k in node.keywords if k.arg in {"labels", "labelnames"}),
                              node.args[2] if len(node.args) > 2 else None)
            labels = {str(e.value) for e in label_node.elts if isinstance(e, ast.Constant)} \
                if isinstance(label_node, ast.List | ast.Tuple) else set()
            if func.startswith("Counter"):
                samples = [f"{name.removesuffix('_total')}_total"]
            elif func.startswith(("Histogram", "Summary")):
                samples = [name, *(f"{name}_{s}" for s in ("bucket", "sum", "count"))]
            else:
                samples = [name]
            for sample in samples:
                found[sample] = labels | ({"le"} if sample.endswith("_bucket") else set())
    return found


def test_the_kit_metric_parser_finds_the_gauges_the_rules_need() -> None:
    metrics = kit_metrics()
    assert metrics[AGE_METRIC] == {"topic"}
    assert metrics["readiness_check_up"] == {"check"}
    assert metrics["kafka_consumer_group_lag"] == {"group", "topic", "partition"}
    assert metrics["outbox_backlog"] == set()
    assert "plusvibe_calls_total" in metrics and "http_request_duration_seconds_bucket" in metrics


# --- PromQL, as far as the rules use it --------------------------------------------------------------------

def selectors(expr: str) -> tuple[list[tuple[str, set[str]]], set[str]]:
    """([(metric, labels matched in its selector)], labels named in by/without/on/ignoring clauses)."""
    grouping = {label.strip() for _kw, labels in _GROUPING.findall(expr) for label in labels.split(",")
                if label.strip()}
    bare = _GROUPING.sub(" ", expr)
    out: list[tuple[str, set[str]]] = []
    for name, matchers, call in _SELECTOR.findall(bare):
        if call or name.lower() in PROMQL_WORDS:
            continue
        out.append((name, set(_MATCHER.findall(matchers))))
    return out, grouping


def test_the_selector_parser_tells_metrics_from_functions_and_labels() -> None:
    parsed = selectors('max by (a, b) (sum without (p) (foo{x="1", y=~"z.*"})) > 3 '
                       'unless on (a) max by (a) (delta(bar[15m])) > 0')
    assert parsed == ([("foo", {"x", "y"}), ("bar", set())], {"a", "b", "p"})


def _ms(duration: str) -> int:
    match = _DURATION.match(duration)
    assert match and duration, duration
    d, h, m, s = (int(g or 0) for g in match.groups())
    return (((d * 24 + h) * 60 + m) * 60 + s) * 1000


def _threshold(expr: str) -> float:
    """The number a rule compares against: `... > N` at the end of its expression."""
    match = re.search(r">\s*([0-9][0-9.e+]*)\s*$", expr)
    assert match, expr
    return float(match.group(1))


# --- the rendered objects --------------------------------------------------------------------------------

def _one(docs: Docs, kind: str) -> dict[str, Any]:
    [obj] = [d for d in docs if d["kind"] == kind]
    return obj


def _alerts(docs: Docs) -> dict[str, dict[str, Any]]:
    rule = _one(docs, "PrometheusRule")
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r}
    assert alerts
    return alerts


def _scrape_labels(docs: Docs) -> set[str]:
    monitor = _one(docs, "PodMonitor")
    targets = {r["targetLabel"] for ep in monitor["spec"]["podMetricsEndpoints"] for r in ep.get("relabelings", [])}
    return SCRAPE_LABELS | targets


def test_every_alert_reads_only_metrics_and_labels_the_kit_exports(rendered: dict[str, Docs]) -> None:
    docs = rendered["prod"]
    metrics = kit_metrics()
    scrape = _scrape_labels(docs)
    assert "service" in scrape  # the PodMonitor names the service; the outbox rules group by it
    used: set[str] = set()
    for name, alert in _alerts(docs).items():
        expr = str(alert["expr"])
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), name
        found, grouping = selectors(expr)
        assert found, (name, expr)
        labels = set(scrape)
        for metric, matched in found:
            assert metric in metrics, f"{name}: {metric} is not a metric of servicekit"
            assert matched <= metrics[metric], (name, metric, matched)
            labels |= metrics[metric]
            used.add(metric)
        assert grouping <= labels, (name, grouping - labels)
        # A label named in the annotations must survive the expression: the outer `agg by (...)` keeps only those.
        outer = re.match(r"\s*\w+\s+by\s*\(([^)]*)\)", expr)
        kept = {x.strip() for x in outer.group(1).split(",")} if outer else labels
        for text in alert["annotations"].values():
            for label in re.findall(r"\$labels\.(\w+)", text):
                assert label in kept, (name, label, kept)
    assert used >= COVERED, COVERED - used


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors (outside code fences)."""
    anchors: set[str] = set()
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6}\s+(.*)", line)):
            title = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower().replace("`", ""))
            anchors.add(title.replace(" ", "-"))
    return anchors


def test_every_alert_is_annotated_and_links_an_existing_runbook_section(rendered: dict[str, Docs]) -> None:
    anchors = _anchors(RUNBOOK.read_text())
    assert "dead-letter-topics-inspect-and-redrive" in anchors  # the anchor rule matches the runbook's style
    runbook_path = RUNBOOK.relative_to(ROOT).as_posix()
    for name, alert in _alerts(rendered["prod"]).items():
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", name), name
        assert alert["labels"]["severity"] in SEVERITIES, name
        notes = alert["annotations"]
        assert notes["summary"].strip() and len(notes["description"]) > len(notes["summary"]), name
        path, _, anchor = notes["runbook_url"].partition("#")
        assert path == runbook_path and anchor in anchors, (name, notes["runbook_url"])
        assert _ms(alert["for"]) > 0, name
        assert name in RUNBOOK.read_text(), f"{name} is not listed in the runbook's Alerts table"


def test_dlq_age_alerts_fire_well_inside_the_dlq_retention(rendered: dict[str, Docs]) -> None:
    docs = rendered["prod"]
    dlq_topics = [t for t in objects(docs, "KafkaTopic").values()
                  if str(t["spec"].get("topicName", t["metadata"]["name"])).endswith(".dlq")]
    assert dlq_topics
    deployed = {int(t["spec"]["config"]["retention.ms"]) for t in dlq_topics}
    retention = min(deployed | {DLQ_RETENTION_MS})
    alerts = _alerts(docs)
    # The rules comparing the age with a threshold (not OutreachDlqAgeUnknown, which only tests its presence).
    age = {alert["labels"]["severity"]: alert for alert in alerts.values()
           if [m for m, _ in selectors(str(alert["expr"]))[0]] == [AGE_METRIC]}
    assert set(age) == {"warning", "critical"}, sorted(age)
    warn, crit = (_threshold(str(age[s]["expr"])) * 1000 for s in ("warning", "critical"))
    assert 0 < warn < crit
    # Critical with at least half of the retention left to act, counting the rule's `for`.
    assert crit + _ms(age["critical"]["for"]) <= retention / 2, (crit, retention)
    # ... and "records waiting" tells long before the first age alert.
    waiting = [a for a in alerts.values() if selectors(str(a["expr"]))[0] == [("kafka_dlq_not_redriven", set())]]
    assert waiting and all(_ms(a["for"]) < warn for a in waiting)


def test_the_lag_alert_sits_above_what_keda_scales_for(rendered: dict[str, Docs]) -> None:
    docs = rendered["prod"]
    [lag] = [a for a in _alerts(docs).values()
             if [m for m, _ in selectors(str(a["expr"]))[0]] == ["kafka_consumer_group_lag"]]
    scaled = [(int(t["metadata"]["lagThreshold"]), int(s["spec"]["maxReplicaCount"]))
              for s in objects(docs, "ScaledObject").values() for t in s["spec"]["triggers"]]
    assert scaled
    assert _threshold(str(lag["expr"])) > max(threshold * replicas for threshold, replicas in scaled)


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] in {"In", "NotIn"}, expression
        inside = labels.get(expression["key"]) in expression["values"]
        if inside != (expression["operator"] == "In"):
            return False
    return True


def test_the_pod_monitor_scrapes_exactly_the_service_processes(rendered: dict[str, Docs]) -> None:
    """The APIs (servicekit.web.http.create_service_app) serve /metrics on `http`, the workers on `health`
    (servicekit.process.worker_health); the dashboard, the ops shell and the migration Jobs are not scraped."""
    docs = rendered["prod"]
    monitor = _one(docs, "PodMonitor")
    deployments = objects(docs, "Deployment")
    scraped = {name for name, d in deployments.items()
               if _selects(monitor["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])}
    assert scraped == {f"{service}-{role}" for service in SERVICES for role in ("api", "consumers", "relay")}
    endpoints = {endpoint["port"]: endpoint for endpoint in monitor["spec"]["podMetricsEndpoints"]}
    assert set(endpoints) == {"http", "health"} and {e["path"] for e in endpoints.values()} == {"/metrics"}
    for name in scraped:
        ports = {p["name"] for c in deployments[name]["spec"]["template"]["spec"]["containers"]
                 for p in c.get("ports", [])}
        assert len(ports & set(endpoints)) == 1, (name, ports)  # scraped once, on the port that serves it
    assert "install_metrics(app, runtime)" in (KIT_SOURCE / "web" / "http.py").read_text()
    assert '"/metrics"' in (KIT_SOURCE / "process" / "worker_health.py").read_text()


def test_monitoring_objects_are_valid_for_the_prometheus_operator_crds(rendered: dict[str, Docs]) -> None:
    crds = load_crds()
    docs = [d for d in rendered["prod"] if d["apiVersion"].startswith("monitoring.coreos.com/")]
    assert {d["kind"] for d in docs} == {"PrometheusRule", "PodMonitor"}
    for doc in docs:
        assert doc["apiVersion"] == "monitoring.coreos.com/v1" and doc["metadata"]["namespace"] == "outreach"
        validate(doc, crds)
    # The validation is strict: a misspelt field and a malformed duration are refused.
    rule = copy.deepcopy(_one(docs, "PrometheusRule"))
    first = rule["spec"]["groups"][0]["rules"][0]
    first["expression"] = first.pop("expr")
    with pytest.raises(jsonschema.ValidationError):
        validate(rule, crds)
    rule = copy.deepcopy(_one(docs, "PrometheusRule"))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "1 hour"
    with pytest.raises(jsonschema.ValidationError):
        validate(rule, crds)
    monitor = copy.deepcopy(_one(docs, "PodMonitor"))
    monitor["spec"]["podMetricsEndpoints"][0]["paths"] = "/metrics"
    with pytest.raises(jsonschema.ValidationError):
        validate(monitor, crds)


def test_the_component_is_in_prod_and_composes_with_dev(rendered: dict[str, Docs], tmp_path: Path) -> None:
    """prod includes it; dev does not (a dev cluster need not run the Prometheus Operator) but can, unchanged."""
    prod = yaml.safe_load((K8S / "overlays" / "prod" / "kustomization.yaml").read_text())
    assert "../../components/monitoring" in prod["components"]
    assert _one(rendered["prod"], "PrometheusRule")["metadata"]["namespace"] == "outreach"
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": "outreach-dev",
        "resources": [os.path.relpath(K8S / "overlays" / "dev", tmp_path)],
        "components": [os.path.relpath(COMPONENT, tmp_path)],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    docs = kustomize_build(tmp_path)
    for kind in ("PrometheusRule", "PodMonitor"):
        assert _one(docs, kind)["metadata"]["namespace"] == "outreach-dev"
    assert _alerts(docs) == _alerts(rendered["prod"])
