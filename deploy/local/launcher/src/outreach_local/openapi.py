"""Writes the OpenAPI document of every service to docs/openapi/<service>.json (`make openapi`).

Each app is built with an embedded SQLite database in a temporary folder and never started, so nothing
connects anywhere."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

SERVICES = ("leads", "audits", "writeback", "unibox")


def build(service: str, data_dir: str) -> dict[str, Any]:
    os.environ["OUTREACH_DATA_DIR"] = data_dir
    module = importlib.import_module(f"{service}.entrypoints.http")
    app = module.create_app()
    spec: dict[str, Any] = app.openapi()
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/openapi"))
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data_dir:
        for service in SERVICES:
            spec = build(service, data_dir)
            (args.output / f"{service}.json").write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
            print(f"wrote {args.output / (service + '.json')} ({len(spec.get('paths', {}))} paths)")


if __name__ == "__main__":
    main()
