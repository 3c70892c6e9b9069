"""Paths and the kustomize renderer shared by the deploy tests (a unique module name: several conftest.py exist)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

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
