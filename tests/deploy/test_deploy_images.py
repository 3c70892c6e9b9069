"""The Dockerfiles, the build context filter and the runtime lock: each image copies exactly the local packages
its service needs (read from the pyprojects), installs third-party code only from the hashed runtime lock, runs
as a non-root user with a health check, bakes in no secret, and starts an entrypoint that exists."""

from __future__ import annotations

import ast
import fnmatch
import re
import tomllib
from pathlib import Path

import pytest
from deploy_support import ROOT, SERVICES

IMAGES = {  # Dockerfile -> the package directory whose runtime it builds
    **{f"services/{svc}/Dockerfile": f"services/{svc}" for svc in (*SERVICES, "dashboard")},
    "libs/plusvibe/Dockerfile": "libs/plusvibe",
}
LOCAL_DIRS = ("contracts", "libs/kit", "libs/plusvibe", "libs/copy", *(f"services/{s}" for s in SERVICES),
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


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_image_copies_exactly_the_local_packages_it_needs(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text()
    copied = set(re.findall(r"^COPY (\S+) /src/\1$", text, re.M))
    assert copied == _local_closure(IMAGES[dockerfile])
    install = re.search(r"pip install --no-deps (/src/.+)$", text, re.M)
    assert install is not None and set(install.group(1).replace("/src/", "").split()) == copied


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_image_is_slim_non_root_health_checked_and_hash_pinned(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    assert stages[0] == "python:3.11-slim" and stages[-1] == "python:3.11-slim"
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in {"0", "root"}
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD ", text, re.M)
    assert "pip install --require-hashes --no-deps -r /tmp/runtime.lock" in text
    assert not re.search(r"^(ENV|ARG)\b.*(SECRET|PASSWORD|API_KEY|TOKEN)", text, re.M | re.I)


@pytest.mark.parametrize("svc", [*SERVICES, "dashboard"])
def test_image_command_names_an_existing_app_factory(svc: str) -> None:
    text = (ROOT / "services" / svc / "Dockerfile").read_text()
    target = re.search(r'"--factory", "([\w.]+):(\w+)"', text)
    assert target is not None
    module, attr = target.groups()
    path = ROOT / "services" / svc / "src" / Path(*module.split(".")).with_suffix(".py")
    functions = {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)}
    assert attr in functions, f"{module}:{attr} does not exist"
    if svc != "dashboard":
        for worker in ("consumers", "relay"):
            assert (ROOT / "services" / svc / "src" / svc / "entrypoints" / f"{worker}.py").is_file()


def test_simulator_image_runs_the_simulator_on_loopback() -> None:
    text = (ROOT / "libs/plusvibe/Dockerfile").read_text()
    assert '"-m", "plusvibe.simulator", "--host", "127.0.0.1", "--port", "8931"' in text
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

    for directory in LOCAL_DIRS:
        assert included(f"{directory}/pyproject.toml"), directory
        assert included(f"{directory}/src/pkg/module.py"), directory
        assert not included(f"{directory}/tests/test_x.py"), directory
    assert included("requirements/runtime.lock")
    for private in (".venv/bin/python", ".local/data/leads.db", ".git/config", "requirements/dev.lock"):
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
