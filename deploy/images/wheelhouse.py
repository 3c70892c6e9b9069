"""Builds `.local/wheelhouse`, everything the images install, so that an image build needs no package index:

- `third-party/`: the wheels of `requirements/runtime.lock`, fetched by pip with `--require-hashes` (a wheel that
  does not match the lock's hash is refused) for CPython 3.11 on manylinux x86_64;
- `local/`: a wheel of each of the project's packages, and `local/<image>.txt` naming the ones an image installs
  (the image's package and its local dependencies, read from the pyprojects).

    python deploy/images/wheelhouse.py [--out .local/wheelhouse]

Idempotent: wheels already there are kept (pip skips them), local wheels are rebuilt (they change with the code).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# image -> the directory of the package it runs
IMAGES = {
    "leads": "services/leads",
    "audits": "services/audits",
    "writeback": "services/writeback",
    "unibox": "services/unibox",
    "dashboard": "services/dashboard",
    "plusvibe-simulator": "libs/plusvibe",
}
# The ops tooling (`outreach-ops`, `python -m outreach_ops.topic_admin`) rides in every service image beside the
# service, for `kubectl exec` and the topic-creating init container; no service package depends on it.
TOOLS = "libs/ops"
TOOL_IMAGES = ("leads", "audits", "writeback", "unibox", "dashboard")
LOCAL_DIRS = ("contracts", "libs/kit", "libs/ops", "libs/plusvibe", "libs/copy", "services/leads", "services/audits",
              "services/writeback", "services/unibox", "services/dashboard")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project(directory: str) -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((ROOT / directory / "pyproject.toml").read_text())["project"]
    return project


DIST_DIR = {normalise(str(_project(d)["name"])): d for d in LOCAL_DIRS}


def local_closure(directory: str) -> list[str]:
    """The package's directory and those of every local package it needs, transitively (sorted)."""
    needed: set[str] = set()
    todo = [directory]
    while todo:
        current = todo.pop()
        if current in needed:
            continue
        needed.add(current)
        deps = _project(current).get("dependencies", [])
        assert isinstance(deps, list)
        for requirement in deps:
            match = re.match(r"[A-Za-z0-9._-]+", str(requirement))
            if match and normalise(match.group(0)) in DIST_DIR:
                todo.append(DIST_DIR[normalise(match.group(0))])
    return sorted(needed)


def image_dirs(image: str) -> list[str]:
    """The package directories an image installs: its package's closure, and the ops tooling's in a service image."""
    dirs = set(local_closure(IMAGES[image]))
    if image in TOOL_IMAGES:
        dirs |= set(local_closure(TOOLS))
    return sorted(dirs)


def _run(argv: list[str]) -> None:
    print("[wheelhouse] " + " ".join(argv[:6]) + (" ..." if len(argv) > 6 else ""), flush=True)
    subprocess.run(argv, check=True, cwd=ROOT)


def third_party(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--require-hashes",
          "--no-deps", "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
          "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
          "--platform", "manylinux2014_x86_64", "-r", str(ROOT / "requirements" / "runtime.lock"), "-d", str(out)])
    locked = {normalise(m.group(1)) for m in re.finditer(r"^([A-Za-z0-9._-]+)==", (
        ROOT / "requirements" / "runtime.lock").read_text(), re.M)}
    for wheel in out.glob("*.whl"):  # a wheel left from an older lock would be installed too: drop it
        if normalise(wheel.name.split("-")[0]) not in locked:
            wheel.unlink()


def local(out: Path, uv: str) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for directory in LOCAL_DIRS:
        _run([uv, "build", "--quiet", "--wheel", "--out-dir", str(out), str(ROOT / directory)])
    wheels = {normalise(w.name.split("-")[0]): w.name for w in out.glob("*.whl")}
    dir_dist = {d: n for n, d in DIST_DIR.items()}
    for image in IMAGES:
        names = [wheels[dir_dist[d]] for d in image_dirs(image)]
        (out / f"{image}.txt").write_text(" ".join(f"/wheels/local/{n}" for n in names) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / ".local" / "wheelhouse")
    # The uv on PATH, else the one `make setup` installs into .local/uv when none is (deploy/local/setup-python.sh).
    parser.add_argument("--uv", default=shutil.which("uv") or str(ROOT / ".local" / "uv" / "bin" / "uv"))
    args = parser.parse_args()
    third_party(args.out / "third-party")
    local(args.out / "local", args.uv)
    count = len(list((args.out / "third-party").glob("*.whl")))
    print(f"[wheelhouse] {count} third-party wheels and {len(LOCAL_DIRS)} local ones in {args.out}")


if __name__ == "__main__":
    main()
