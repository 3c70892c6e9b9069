"""One route table, three places: the Kubernetes Ingress, the docker-compose gateway (nginx) and the services'
own routes. The Ingress and the gateway agree path for path; every path a service serves reaches that service."""

from __future__ import annotations

import ast
import re
from typing import Any
from urllib.parse import urlsplit

import yaml
from deploy_support import K8S, ROOT, SERVICES

BACKEND_SERVICE = {"leads-api": "leads", "audits-api": "audits", "writeback-api": "writeback",
                   "unibox-api": "unibox", "dashboard": "dashboard"}


def _ingress_routes() -> dict[str, str]:
    ingress: dict[str, Any] = yaml.safe_load((K8S / "base" / "ingress.yaml").read_text())
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    return {p["path"]: p["backend"]["service"]["name"] for p in paths}


def _gateway_routes() -> dict[str, str]:
    conf = (ROOT / "deploy" / "docker" / "gateway" / "nginx.conf").read_text()
    routes = re.findall(r"location (/\S*) \{ set \$up ([a-z-]+); proxy_pass http://\$up:8000; \}", conf)
    return {path.rstrip("/") or "/": upstream for path, upstream in routes}


def _route_for(path: str, routes: dict[str, str]) -> str:
    """Longest element-wise prefix match, as an Ingress `Prefix` path does."""
    best = max((p for p in routes if p == "/" or path == p or path.startswith(p + "/")), key=len)
    return routes[best]


def _scope_paths(scope: ast.AST) -> set[str]:
    """Paths of the route decorators in one scope, with the prefix of the APIRouter they are registered on."""
    prefixes: dict[str, str] = {}
    for node in ast.walk(scope):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", "") == "APIRouter"):
            prefix = next((k.value.value for k in node.value.keywords
                           if k.arg == "prefix" and isinstance(k.value, ast.Constant)), "")
            prefixes.update({t.id: str(prefix) for t in node.targets if isinstance(t, ast.Name)})
    paths: set[str] = set()
    for node in ast.walk(scope):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in node.decorator_list:
            if (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                    and deco.func.attr in {"get", "post", "put", "patch", "delete"}
                    and deco.args and isinstance(deco.args[0], ast.Constant)):
                paths.add(prefixes.get(getattr(deco.func.value, "id", ""), "") + str(deco.args[0].value))
    return paths


def _service_paths(service: str) -> set[str]:
    """Literal route paths of a service's HTTP entrypoints; each top-level function (a router builder) is its
    own scope, since several builders name their router `router`."""
    paths: set[str] = set()
    for module in (ROOT / "services" / service / "src" / service / "entrypoints").glob("*.py"):
        for statement in ast.parse(module.read_text()).body:
            paths |= _scope_paths(statement)
    return {p for p in paths if not p.startswith("/health")}


def test_gateway_and_ingress_route_the_same_paths_to_the_same_services() -> None:
    ingress = _ingress_routes()
    gateway = _gateway_routes()
    assert len(ingress) == 16
    assert gateway == ingress


def test_every_service_path_reaches_its_service_through_the_ingress() -> None:
    routes = _ingress_routes()
    for service in (*SERVICES, "dashboard"):
        paths = _service_paths(service) if service != "dashboard" else {"/", "/leads", "/leads/x", "/audits/x"}
        assert paths, f"no routes found for {service}"
        for path in paths:
            assert BACKEND_SERVICE[_route_for(path, routes)] == service, (service, path)


def test_the_simulator_sidecar_forwards_webhooks_to_the_unibox_route() -> None:
    conf = (K8S / "components" / "plusvibe-simulator" / "sidecar-nginx.conf").read_text()
    # An nginx prefix location: the hooks leads registers (/api/plusvibe/webhooks/<workspace>) and hand-added ones.
    assert "location /api/plusvibe/webhooks { proxy_pass http://unibox-api:8000; }" in conf
    assert "listen 127.0.0.1:8081;" in conf and "proxy_pass http://127.0.0.1:8931;" in conf
    for routes in (_ingress_routes(), _gateway_routes()):
        for path in ("/api/plusvibe/webhooks", "/api/plusvibe/webhooks/default", "/api/plusvibe/webhooks/acme"):
            assert _route_for(path, routes) == "unibox-api", path


def _simulator_loopback_base() -> str:
    """http://127.0.0.1:<port> of the sidecar's loopback server that forwards the webhooks to unibox."""
    conf = (K8S / "components" / "plusvibe-simulator" / "sidecar-nginx.conf").read_text()
    port = re.search(r"listen 127\.0\.0\.1:(\d+);", conf)
    assert port is not None
    return f"http://127.0.0.1:{port.group(1)}"


def _env(docs: list[dict[str, Any]], deployment: str, variable: str) -> str | None:
    """A variable of the Deployment's first container as the pod sees it: its own env over its envFrom ConfigMaps."""
    container = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == deployment)[
        "spec"]["template"]["spec"]["containers"][0]
    for entry in container.get("env", []):
        if entry["name"] == variable:
            return str(entry["value"])
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    found = [maps[source["configMapRef"]["name"]][variable] for source in container.get("envFrom", [])
             if "configMapRef" in source and variable in maps[source["configMapRef"]["name"]]]
    return found[-1] if found else None


def test_no_simulator_command_line_registers_a_webhook(rendered: dict[str, list[dict[str, Any]]],
                                                       compose: dict[str, Any]) -> None:
    """Like PlusVibe, the simulator adds no hook by itself: leads registers it when the integration is connected."""
    assert "--webhook-url" not in (ROOT / "deploy" / "images" / "entrypoint.sh").read_text()
    assert "--webhook-url" not in (K8S / "components" / "plusvibe-simulator" / "simulator.yaml").read_text()
    assert "--webhook-url" not in (ROOT / "docker-compose.yml").read_text()
    simulators = [d for docs in rendered.values() for d in docs
                  if d["kind"] == "Deployment" and d["metadata"]["name"] == "plusvibe-simulator"]
    assert simulators
    for deployment in simulators:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            argv = [*container.get("command", []), *container.get("args", [])]
            assert not any(arg.startswith("--webhook-url") for arg in argv), argv
    assert "--webhook-url" not in " ".join(compose["services"]["plusvibe-simulator"].get("command", []))


def test_leads_registers_webhooks_at_a_base_url_that_reaches_unibox(rendered: dict[str, list[dict[str, Any]]],
                                                                    compose: dict[str, Any]) -> None:
    """LEADS_WEBHOOK_BASE_URL + /api/plusvibe/webhooks/<workspace> must reach unibox from where PlusVibe calls:
    the simulator's loopback proxy where it runs (it delivers to loopback URLs only), the Ingress host in prod."""
    from leads.settings import LeadsSettings

    loopback = _simulator_loopback_base()
    for overlay, docs in rendered.items():
        base = _env(docs, "leads-api", "LEADS_WEBHOOK_BASE_URL")
        assert base, f"{overlay}: leads-api has no LEADS_WEBHOOK_BASE_URL"
        assert LeadsSettings(webhook_base_url=base).webhook_base_url == base, (overlay, base)
        has_simulator = any(d["kind"] == "Deployment" and d["metadata"]["name"] == "plusvibe-simulator" for d in docs)
        if has_simulator:
            assert base == loopback, (overlay, base)
            continue
        ingress = next(d for d in docs if d["kind"] == "Ingress" and d["metadata"]["name"] == "outreach")
        hosts = [rule.get("host") for rule in ingress["spec"]["rules"]]
        tls_hosts = {h for entry in ingress["spec"].get("tls", []) for h in entry.get("hosts", [])}
        url = urlsplit(base)
        assert (url.scheme, url.path) == ("https", ""), (overlay, base)
        assert url.hostname in hosts and url.hostname in tls_hosts, (overlay, base, hosts)
        paths = {p["path"]: p["backend"]["service"]["name"] for rule in ingress["spec"]["rules"]
                 if rule.get("host") == url.hostname for p in rule["http"]["paths"]}
        assert _route_for("/api/plusvibe/webhooks/default", paths) == "unibox-api"
    # docker-compose: the simulator's proxy shares its network namespace and serves the same sidecar config.
    services = compose["services"]
    assert services["leads-api"]["environment"]["LEADS_WEBHOOK_BASE_URL"] == loopback
    proxy = services["plusvibe-simulator-proxy"]
    assert proxy["network_mode"] == "service:plusvibe-simulator"
    assert any(v.startswith("./deploy/k8s/components/plusvibe-simulator/sidecar-nginx.conf:") for v in proxy["volumes"])


def test_a_path_outside_the_table_would_be_reported() -> None:
    routes = _ingress_routes()
    assert BACKEND_SERVICE[_route_for("/api/leadsx", routes)] == "dashboard"  # element-wise, not string prefix
    assert BACKEND_SERVICE[_route_for("/r/abc", routes)] == "audits"
