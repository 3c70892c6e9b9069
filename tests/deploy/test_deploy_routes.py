"""One route table, three places: the Kubernetes Ingress, the docker-compose gateway (nginx) and the services'
own routes. The Ingress and the gateway agree path for path; every path a service serves reaches that service."""

from __future__ import annotations

import ast
import re
from typing import Any

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
    assert len(ingress) == 12
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
    assert "location /api/plusvibe/webhooks { proxy_pass http://unibox-api:8000; }" in conf
    assert _route_for("/api/plusvibe/webhooks", _ingress_routes()) == "unibox-api"
    assert "listen 127.0.0.1:8081;" in conf and "proxy_pass http://127.0.0.1:8931;" in conf
    simulator = (K8S / "components" / "plusvibe-simulator" / "simulator.yaml").read_text()
    assert '"--webhook-url", "http://127.0.0.1:8081/api/plusvibe/webhooks"' in simulator


def test_a_path_outside_the_table_would_be_reported() -> None:
    routes = _ingress_routes()
    assert BACKEND_SERVICE[_route_for("/api/leadsx", routes)] == "dashboard"  # element-wise, not string prefix
    assert BACKEND_SERVICE[_route_for("/r/abc", routes)] == "audits"
