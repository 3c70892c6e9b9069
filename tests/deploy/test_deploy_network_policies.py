"""The rendered NetworkPolicies, evaluated as a cluster would: label selectors against the pod templates and the
namespaces' `kubernetes.io/metadata.name` label, ports (numbers or names) against the containers. Every app pod is
denied by default; the APIs take port 8000 from the Ingress controller's namespace (and the monitoring scrapes);
workers only their health port from monitoring; and every API that trusts X-Forwarded-For from any peer
(FORWARDED_ALLOW_IPS="*") is reachable on its port only from the peers trusted to set that header."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from deploy_support import K8S, OVERLAYS, SERVICES, kustomize_build

INGRESS_NAMESPACE = "ingress-nginx"  # ingress.yaml: ingressClassName nginx (the ingress-nginx controller)
MONITORING_NAMESPACE = "monitoring"
API_PORT = 8000
WORKER_PARTS = ("consumers", "relay")
PART_OF = {"app.kubernetes.io/part-of": "outreach"}
NAME_LABEL = "kubernetes.io/metadata.name"
SIMULATOR = "plusvibe-simulator"

Docs = list[dict[str, Any]]


@dataclass(frozen=True)
class Pod:
    """A pod as a NetworkPolicy sees it: its namespace, labels and declared container ports."""
    namespace: str
    labels: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)  # name -> containerPort ("" for unnamed ports)
    numbers: frozenset[int] = frozenset()


def _deployments(docs: Docs) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}


def _pod(deployment: dict[str, Any]) -> Pod:
    template = deployment["spec"]["template"]
    declared = [p for c in template["spec"]["containers"] for p in c.get("ports", [])]
    return Pod(namespace=deployment["metadata"]["namespace"], labels=dict(template["metadata"]["labels"]),
               ports={p["name"]: int(p["containerPort"]) for p in declared if "name" in p},
               numbers=frozenset(int(p["containerPort"]) for p in declared))


def _outsider(namespace: str, **labels: str) -> Pod:
    return Pod(namespace=namespace, labels=dict(labels))


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """metav1.LabelSelector semantics; the empty selector matches everything."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels,
              "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def _policies(docs: Docs) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "NetworkPolicy"]


def _governs_ingress(policy: dict[str, Any]) -> bool:
    types = policy["spec"].get("policyTypes")
    return "Ingress" in types if types is not None else True  # unset: Ingress (plus Egress if egress rules exist)


def _selecting(policies: Docs, pod: Pod) -> Docs:
    """The ingress policies that apply to a pod (same namespace, podSelector matches)."""
    return [p for p in policies if p["metadata"]["namespace"] == pod.namespace and _governs_ingress(p)
            and _matches(p["spec"]["podSelector"], pod.labels)]


def _peer_admits(peer: dict[str, Any], policy_namespace: str, source: Pod) -> bool:
    if "ipBlock" in peer:
        return False  # pod sources are judged by selectors; an ipBlock is checked separately where it matters
    ns_selector = peer.get("namespaceSelector")
    if ns_selector is None:
        ns_ok = source.namespace == policy_namespace
    else:
        ns_ok = _matches(ns_selector, {NAME_LABEL: source.namespace})
    return ns_ok and _matches(peer.get("podSelector", {}), source.labels)


def _port_admits(rule_port: dict[str, Any], target: Pod, port: int) -> bool:
    if rule_port.get("protocol", "TCP") != "TCP":
        return False
    if "port" not in rule_port:
        return True
    value = rule_port["port"]
    number = target.ports.get(value) if isinstance(value, str) else int(value)
    if number is None:
        return False
    return number <= port <= int(rule_port.get("endPort", number))


def _rule_admits(rule: dict[str, Any], policy_namespace: str, source: Pod, target: Pod, port: int) -> bool:
    ports = rule.get("ports") or [{}]  # absent or empty: every port
    peers = rule.get("from")
    from_ok = not peers or any(_peer_admits(peer, policy_namespace, source) for peer in peers)
    return from_ok and any(_port_admits(p, target, port) for p in ports)


def allowed(policies: Docs, source: Pod, target: Pod, port: int) -> bool:
    """Would a TCP connection from `source` to `target:port` be let in? (Egress is not restricted here.)"""
    selecting = _selecting(policies, target)
    if not selecting:
        return True  # not isolated for ingress
    return any(_rule_admits(rule, p["metadata"]["namespace"], source, target, port)
               for p in selecting for rule in p["spec"].get("ingress") or [])


def _app_pods(docs: Docs) -> dict[str, Pod]:
    return {name: _pod(d) for name, d in _deployments(docs).items()
            if d["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "outreach"}


def _api_names() -> list[str]:
    return [f"{svc}-api" for svc in SERVICES] + ["dashboard"]


def _worker_names() -> list[str]:
    return [f"{svc}-{part}" for svc in SERVICES for part in WORKER_PARTS]


def _namespace(docs: Docs) -> str:
    return str(_deployments(docs)["leads-api"]["metadata"]["namespace"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_app_pod_is_selected_by_a_default_deny_ingress_policy(rendered: dict[str, Docs],
                                                                   overlay: str) -> None:
    docs = rendered[overlay]
    pods = _app_pods(docs)
    assert set(_api_names()) | set(_worker_names()) <= set(pods)
    deny_all = [p for p in _policies(docs) if _governs_ingress(p) and not p["spec"].get("ingress")]
    assert deny_all, "no default-deny ingress policy"
    for name, pod in pods.items():
        assert any(p["metadata"]["namespace"] == pod.namespace and _matches(p["spec"]["podSelector"], pod.labels)
                   for p in deny_all), f"{name} is not under a default-deny ingress policy"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_policies_leave_pods_outside_the_app_alone(rendered: dict[str, Docs], overlay: str) -> None:
    """Kafka (Strimzi) and the dev PostgreSQL share the namespace: the app's default deny must not cut them off."""
    policies = _policies(rendered[overlay])
    broker = _outsider(_namespace(rendered[overlay]), **{"strimzi.io/cluster": "outreach",
                                                        "app.kubernetes.io/name": "kafka"})
    postgres = _outsider(_namespace(rendered[overlay]), **{"app.kubernetes.io/name": "postgres"})
    for pod in (broker, postgres):
        assert _selecting(policies, pod) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_apis_take_port_8000_from_the_ingress_namespace_only(rendered: dict[str, Docs], overlay: str) -> None:
    docs = rendered[overlay]
    policies, pods, ns = _policies(docs), _app_pods(docs), _namespace(docs)
    controller = _outsider(INGRESS_NAMESPACE, **{"app.kubernetes.io/name": "ingress-nginx"})
    for name in _api_names():
        api = pods[name]
        assert API_PORT in api.numbers, name
        assert allowed(policies, controller, api, API_PORT), name
        assert not allowed(policies, controller, api, 8081), name  # the port only
        assert not allowed(policies, _outsider("default", app="curl"), api, API_PORT), name
        assert not allowed(policies, _outsider(ns, app="curl"), api, API_PORT), name
        for other in _worker_names():  # the app's own pods never call the APIs directly
            assert not allowed(policies, pods[other], api, API_PORT), (other, name)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_ingress_backend_lands_on_pods_the_controller_may_reach(rendered: dict[str, Docs],
                                                                      overlay: str) -> None:
    """Ingress path -> Service port -> targetPort -> containerPort of the selected pods: that port is open to
    the Ingress controller's namespace."""
    docs = rendered[overlay]
    policies, pods = _policies(docs), _app_pods(docs)
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    controller = _outsider(INGRESS_NAMESPACE, **{"app.kubernetes.io/name": "ingress-nginx"})
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    backends = [p["backend"]["service"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert {b["name"] for b in backends} == {f"{svc}-api" for svc in SERVICES} | {"dashboard"}
    for backend in backends:
        service = services[backend["name"]]
        wanted = backend["port"]
        service_port = next(p for p in service["spec"]["ports"]
                            if p.get("name") == wanted.get("name") or p["port"] == wanted.get("number"))
        targets = [pod for pod in pods.values() if _matches({"matchLabels": service["spec"]["selector"]}, pod.labels)]
        assert targets, backend
        for pod in targets:
            target_port = service_port.get("targetPort", service_port["port"])
            number = pod.ports[target_port] if isinstance(target_port, str) else int(target_port)
            assert number == API_PORT, backend
            assert allowed(policies, controller, pod, number), backend


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_monitoring_may_scrape_the_apis_and_reach_the_worker_health_port(rendered: dict[str, Docs],
                                                                         overlay: str) -> None:
    docs = rendered[overlay]
    policies, pods = _policies(docs), _app_pods(docs)
    prometheus = _outsider(MONITORING_NAMESPACE, **{"app.kubernetes.io/name": "prometheus"})
    for name in _api_names():
        assert allowed(policies, prometheus, pods[name], API_PORT), name
    for name in _worker_names():
        assert allowed(policies, prometheus, pods[name], pods[name].ports["health"]), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_accept_nothing_but_their_health_port_from_monitoring(rendered: dict[str, Docs],
                                                                      overlay: str) -> None:
    """Every ingress rule that applies to a worker names only its health port and only the monitoring
    namespace; so the Ingress controller, the other app pods and other namespaces reach nothing."""
    docs = rendered[overlay]
    policies, pods, ns = _policies(docs), _app_pods(docs), _namespace(docs)
    monitoring_only = {"namespaceSelector": {"matchLabels": {NAME_LABEL: MONITORING_NAMESPACE}}}
    for name in _worker_names():
        worker = pods[name]
        health = worker.ports["health"]
        assert worker.numbers == {health}, name
        selecting = _selecting(policies, worker)
        assert selecting, f"{name} is not isolated"
        for policy in selecting:
            for rule in policy["spec"].get("ingress") or []:
                assert rule.get("ports"), (name, policy["metadata"]["name"])
                assert all(_port_admits(p, worker, health) and p.get("endPort") is None for p in rule["ports"]), \
                    (name, policy["metadata"]["name"])
                assert rule.get("from") and all(peer == monitoring_only for peer in rule["from"]), \
                    (name, policy["metadata"]["name"])
        sources = [_outsider(INGRESS_NAMESPACE), _outsider(ns, app="curl"), _outsider("default")]
        sources += [pods[other] for other in pods if other != name]
        for source in sources:
            assert not allowed(policies, source, worker, health), (source, name)


def _trusted_peers(overlay: str, namespace: str) -> list[dict[str, Any]]:
    """The peers allowed to set X-Forwarded-For for a pod that trusts it from anyone: the Ingress controller,
    the scrapers (same port, /metrics) and, in dev only, the PlusVibe simulator's webhook proxy."""
    peers = [{"namespaceSelector": {"matchLabels": {NAME_LABEL: INGRESS_NAMESPACE}}},
             {"namespaceSelector": {"matchLabels": {NAME_LABEL: MONITORING_NAMESPACE}}}]
    if overlay == "dev":
        peers.append({"podSelector": {"matchLabels": {"app.kubernetes.io/name": SIMULATOR}}})
    return peers


def _untrusted_peers_on_port(policies: Docs, pod: Pod, port: int, trusted: list[dict[str, Any]]) -> list[Any]:
    """Every rule admitting `port` to `pod` whose sources are not all trusted (empty `from` = anyone)."""
    bad: list[Any] = []
    for policy in _selecting(policies, pod):
        for rule in policy["spec"].get("ingress") or []:
            if not any(_port_admits(p, pod, port) for p in rule.get("ports") or [{}]):
                continue
            peers = rule.get("from")
            if not peers:
                bad.append((policy["metadata"]["name"], "any source"))
            bad.extend((policy["metadata"]["name"], peer) for peer in peers or [] if peer not in trusted)
    return bad


def _forwarded_allow_ips(deployment: dict[str, Any]) -> list[str]:
    return [e.get("value", "") for c in deployment["spec"]["template"]["spec"]["containers"]
            for e in c.get("env", []) if e["name"] == "FORWARDED_ALLOW_IPS"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_apis_trusting_forwarded_headers_are_reachable_only_from_trusted_proxies(rendered: dict[str, Docs],
                                                                                 overlay: str) -> None:
    """FORWARDED_ALLOW_IPS="*" lets any peer pick the client address (and so its rate-limit bucket) by sending
    X-Forwarded-For: safe only while the policies keep every other peer off the port."""
    docs = rendered[overlay]
    policies, ns = _policies(docs), _namespace(docs)
    trusting = {name: d for name, d in _deployments(docs).items() if _forwarded_allow_ips(d)}
    assert set(trusting) == {f"{svc}-api" for svc in SERVICES}
    for name, deployment in trusting.items():
        assert _forwarded_allow_ips(deployment) == ["*"], name
        pod = _pod(deployment)
        assert _selecting(policies, pod), f"{name} trusts X-Forwarded-For but is not isolated"
        assert _untrusted_peers_on_port(policies, pod, API_PORT, _trusted_peers(overlay, ns)) == [], name
        assert not allowed(policies, _outsider(ns, app="attacker"), pod, API_PORT), name


def test_the_trust_check_catches_a_policy_that_opens_the_api_port(rendered: dict[str, Docs]) -> None:
    """The evaluator is not vacuous: an extra rule from the whole namespace, or a rule without `from`, fails it."""
    docs = rendered["prod"]
    policies, ns = _policies(docs), _namespace(docs)
    pod = _pod(_deployments(docs)["audits-api"])
    trusted = _trusted_peers("prod", ns)
    for extra in ({"from": [{"podSelector": {}}], "ports": [{"port": "http"}]}, {"ports": [{"port": API_PORT}]}):
        opened = copy.deepcopy(policies)
        next(p for p in opened if p["metadata"]["name"] == "outreach-api-from-ingress")["spec"]["ingress"].append(extra)
        assert _untrusted_peers_on_port(opened, pod, API_PORT, trusted) != []
        assert allowed(opened, _outsider(ns, app="attacker"), pod, API_PORT)
    without = [p for p in policies if p["metadata"]["name"] != "outreach-api-from-ingress"]
    assert not allowed(without, _outsider(INGRESS_NAMESPACE), pod, API_PORT)


def test_dev_simulator_is_reachable_from_the_app_and_delivers_webhooks_to_unibox(
        rendered: dict[str, Docs]) -> None:
    docs = rendered["dev"]
    policies, pods, ns = _policies(docs), _app_pods(docs), _namespace(docs)
    simulator = _pod(_deployments(docs)[SIMULATOR])
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == SIMULATOR)
    target_port = service["spec"]["ports"][0]["targetPort"]
    port = simulator.ports[target_port] if isinstance(target_port, str) else int(target_port)
    assert _selecting(policies, simulator), "the simulator is not isolated"
    for name, pod in pods.items():
        assert allowed(policies, pod, simulator, port), name
    assert not allowed(policies, _outsider(ns, app="curl"), simulator, port)
    assert not allowed(policies, _outsider(INGRESS_NAMESPACE), simulator, port)
    # The sidecar's webhook proxy (sidecar-nginx.conf) -> unibox-api:8000; only unibox, never the other APIs.
    assert allowed(policies, simulator, pods["unibox-api"], API_PORT)
    for name in ("leads-api", "audits-api", "writeback-api", "dashboard"):
        assert not allowed(policies, simulator, pods[name], API_PORT), name


def test_prod_has_no_simulator_policies(rendered: dict[str, Docs]) -> None:
    names = {p["metadata"]["name"] for p in _policies(rendered["prod"])}
    assert not any(SIMULATOR in name for name in names), names


def test_an_overlay_can_move_the_ingress_namespace_with_the_readme_patch(tmp_path: Path) -> None:
    """deploy/k8s/README.md's recipe: a JSON patch on the policy retargets it (the base is rendered, not grepped)."""
    base = os.path.relpath(K8S / "base", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: outreach-test
resources:
  - {base}
patches:
  - target: {{kind: NetworkPolicy, name: outreach-api-from-ingress}}
    patch: |-
      - op: replace
        path: /spec/ingress/0/from/0/namespaceSelector/matchLabels/kubernetes.io~1metadata.name
        value: edge
""")
    docs = kustomize_build(tmp_path)
    policies, pod = _policies(docs), _pod(_deployments(docs)["leads-api"])
    assert allowed(policies, _outsider("edge"), pod, API_PORT)
    assert not allowed(policies, _outsider(INGRESS_NAMESPACE), pod, API_PORT)
