"""Paths and the kustomize renderer shared by the deploy tests (a unique module name: several conftest.py exist)."""

from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from servicekit.process.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
SERVICES = ("leads", "audits", "writeback", "unibox")


def kustomize_build(path: Path) -> list[dict[str, Any]]:
    """Renders a kustomization with `kubectl kustomize` (kustomize v5 built into kubectl); no cluster involved."""
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl (with built-in kustomize) is needed to render deploy/k8s"
    out = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 0, f"kustomize build {path} failed:\n{out.stderr}"
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def groups_from_code() -> dict[str, dict[str, str]]:
    """{service: {group: topic}} from every `*.add_consumer(TOPIC, "handler", ...)` call of the services'
    bootstraps, parsed with `ast` (independently of deploy/k8s/generate.py's regular expression)."""
    from contracts import topics as registry

    found: dict[str, dict[str, str]] = {}
    for bootstrap in sorted(ROOT.glob("services/*/src/*/bootstrap.py")):
        service = bootstrap.parent.name
        for node in ast.walk(ast.parse(bootstrap.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_consumer":
                topic_arg, handler_arg = node.args[0], node.args[1]
                constant = topic_arg.attr if isinstance(topic_arg, ast.Attribute) else getattr(topic_arg, "id", "")
                assert isinstance(handler_arg, ast.Constant) and isinstance(handler_arg.value, str), (
                    f"{bootstrap}: handler name must be a literal")
                spec = getattr(registry, constant)
                found.setdefault(service, {})[f"{service}.{handler_arg.value}"] = spec.name
    return found


def objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """The objects of one kind by name."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def settings_class(service: str) -> type[ServiceSettings]:
    """The service's own settings class (the one ServiceSettings subclass its settings module defines)."""
    module = importlib.import_module(f"{service}.settings")
    found = [obj for obj in vars(module).values()
             if isinstance(obj, type) and issubclass(obj, ServiceSettings) and obj is not ServiceSettings
             and obj.__module__ == module.__name__]
    assert len(found) == 1, (service, found)
    return found[0]
