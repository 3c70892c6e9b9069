"""Fixtures for the deploy tests: the rendered kustomize overlays and the parsed docker-compose.yml."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from deploy_support import K8S, OVERLAYS, ROOT, kustomize_build


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every overlay, rendered once per session."""
    return {name: kustomize_build(K8S / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data
