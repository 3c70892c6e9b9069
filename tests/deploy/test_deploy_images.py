"""The one Dockerfile (deploy/images), the build context filter and the runtime lock: each image installs exactly
the local packages its service needs (read from the pyprojects), installs third-party code only from the wheelhouse
of the hashed runtime lock (no index), runs as a non-root user with a health check, bakes in no secret, and starts
an entrypoint that exists. That the images really build and run: tests/e2e/test_e2e_images.py."""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from deploy_support import ROOT, SERVICES

DOCKERFILE = ROOT / "deploy" / "images" / "Dockerfile"
ENTRYPOINT = ROOT / "deploy" / "images" / "entrypoint.sh"
IMAGES = {  # image -> the package directory whose runtime it builds
    **{svc: f"services/{svc}" for svc in (*SERVICES, "dashboard")},
    "plusvibe-simulator": "libs/plusvibe",
}
LOCAL_DIRS = ("contracts", "libs/kit", "libs/ops", "libs/plusvibe", "libs/copy", *(f"services/{s}" for s in SERVICES),
              "services/dashboard")


def _project(directory: str) -> dict[str, object]:
    data: dict[str, object] = tomllib.loads((ROOT / directory / "pyproject.toml").read_text())["project"]
    return data


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


DIST_DIR = {_name(str(_project(d)["name"])): d for d in LOCAL_DIRS}


def _local_closure(directory: str) -> set[str]:
    needed, todo = set(), [directory]
    while todo:
        current = todo.pop()
        if current in needed:
            continue
        needed.add(current)
        deps = _project(current).get("dependencies", [])
        assert isinstance(deps, list)
        todo += [DIST_DIR[_name(d)] for d in deps if _name(d) in DIST_DIR]
    return needed


def _pins(lock: Path) -> dict[str, str]:
    return {_name(m.group(1)): m.group(2) for m in re.finditer(r"^([A-Za-z0-9._-]+)==([^\s\\]+)", lock.read_text(), re.M)}


def _wheelhouse() -> Any:
    spec = importlib.util.spec_from_file_location("wheelhouse", ROOT / "deploy" / "images" / "wheelhouse.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_each_image_installs_exactly_the_local_packages_it_needs(image: str) -> None:
    wheelhouse = _wheelhouse()
    assert wheelhouse.IMAGES[image] == IMAGES[image]
    assert set(wheelhouse.local_closure(IMAGES[image])) == _local_closure(IMAGES[image])
    tools = _local_closure("libs/ops") if image != "plusvibe-simulator" else set()
    assert set(wheelhouse.image_dirs(image)) == _local_closure(IMAGES[image]) | tools


def test_no_service_depends_on_the_ops_tooling() -> None:
    """The images carry `outreach-ops` beside the service; the service's own closure never includes it."""
    for image, directory in IMAGES.items():
        assert "libs/ops" not in _local_closure(directory), image


def test_one_dockerfile_slim_public_base_non_root_health_checked_hermetic() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, re.M)
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    assert stages and all(stage == "${BASE_IMAGE}" for stage in stages)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in {"0", "root"}
    assert re.search(r"^HEALTHCHECK .*CMD ", text, re.M)
    installs = re.findall(r"pip install ([^\n]+)", text)
    assert installs and all("--no-index" in i and "--no-deps" in i for i in installs)  # only the wheelhouse
    assert not re.search(r"^(ENV|ARG)\b.*(SECRET|PASSWORD|API_KEY|TOKEN)", text, re.M | re.I)


@pytest.mark.parametrize("svc", [*SERVICES, "dashboard"])
def test_the_api_command_names_an_existing_app_factory(svc: str) -> None:
    text = ENTRYPOINT.read_text()
    if svc == "dashboard":
        module, attr = re.search(r"dashboard\) app=([\w.]+):(\w+)", text).groups()  # type: ignore[union-attr]
        src = ROOT / "services" / svc / "src"
    else:
        assert 'app="$OUTREACH_SERVICE.entrypoints.http:app_factory"' in text
        module, attr, src = f"{svc}.entrypoints.http", "app_factory", ROOT / "services" / svc / "src"
    path = src / Path(*module.split(".")).with_suffix(".py")
    functions = {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)}
    assert attr in functions, f"{module}:{attr} does not exist"
    if svc != "dashboard":
        for worker in ("consumers", "relay", "migrate"):
            assert (ROOT / "services" / svc / "src" / svc / "entrypoints" / f"{worker}.py").is_file()


def test_simulator_image_runs_the_simulator_on_loopback() -> None:
    text = ENTRYPOINT.read_text()
    assert "exec python -m plusvibe.simulator --host 127.0.0.1 --port 8931" in text
    assert (ROOT / "libs/plusvibe/src/plusvibe/simulator/__main__.py").is_file()


def test_build_context_admits_what_the_images_copy_and_nothing_else() -> None:
    patterns = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line and not line.startswith("#")]
    assert patterns[0] == "**"

    def included(path: str) -> bool:
        verdict = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            if fnmatch.fnmatch(path, pattern.lstrip("!")):
                verdict = negated
        return verdict

    assert included(".local/wheelhouse/third-party/pydantic-2.0-cp311-none-any.whl")
    assert included(".local/wheelhouse/local/outreach_kit-0.1.0-py3-none-any.whl")
    assert included(".local/wheelhouse/local/leads.txt")
    assert included("deploy/images/entrypoint.sh")
    for private in (".venv/bin/python", ".local/data/leads.db", ".local/kafka/data/meta.properties", ".git/config",
                    "requirements/dev.lock", "services/leads/src/leads/bootstrap.py", "services/leads/tests/x.py"):
        assert not included(private), private


def test_runtime_lock_pins_every_runtime_dependency_like_the_dev_lock() -> None:
    runtime = _pins(ROOT / "requirements/runtime.lock")
    dev = _pins(ROOT / "requirements/dev.lock")
    text = (ROOT / "requirements/runtime.lock").read_text()
    assert "://" not in text and not re.search(r"^-e ", text, re.M)
    assert not set(runtime) & set(DIST_DIR), "local packages are installed per image, not from the lock"
    for directory in LOCAL_DIRS:
        deps = _project(directory).get("dependencies", [])
        assert isinstance(deps, list)
        for dep in deps:
            if _name(dep) not in DIST_DIR:
                assert _name(dep) in runtime, (directory, dep)
    for name, version in runtime.items():
        assert dev.get(name) == version, f"{name}: runtime {version}, dev {dev.get(name)}"
    assert all("--hash=sha256:" in block for block in re.split(r"\n(?=[A-Za-z])", text) if "==" in block)
    for tool in ("pytest", "ruff", "mypy"):
        assert tool not in runtime
