"""JSON Schema snapshots of every event and the compatibility rule between versions of a contract.

Breaking: a removed field, a changed type, a newly required field, a removed enum value.
Additive (allowed): a new optional field, a new enum value, a relaxed constraint.

    python -m outreach_ops.schema_compat --check   # fails on a breaking change against contracts/schemas
    python -m outreach_ops.schema_compat --write   # refreshes the snapshots (after an additive change)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from contracts.envelope import Envelope
from contracts.registry import EVENT_MODELS

SNAPSHOT_DIR = Path(__file__).resolve().parents[4] / "contracts" / "schemas"


def current_schemas() -> dict[str, dict[str, Any]]:
    schemas = {f"{name}.v{model.EVENT_VERSION}": model.model_json_schema() for name, model in EVENT_MODELS.items()}
    schemas["Envelope.v1"] = Envelope.model_json_schema()
    return schemas


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 20:
        ref = str(schema["$ref"])
        node: Any = root
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        schema = node
        seen += 1
    return schema


def _types(schema: dict[str, Any], root: dict[str, Any]) -> frozenset[str]:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return frozenset().union(*(_types(s, root) for s in schema["anyOf"]))
    if "type" in schema:
        t = schema["type"]
        return frozenset(t if isinstance(t, list) else [t])
    if "enum" in schema or "const" in schema:
        return frozenset({"enum"})
    return frozenset({"any"})


def breaking_changes(old: dict[str, Any], new: dict[str, Any], *, path: str = "$",
                     old_root: dict[str, Any] | None = None, new_root: dict[str, Any] | None = None) -> list[str]:
    old_root = old_root or old
    new_root = new_root or new
    old = _resolve(old, old_root)
    new = _resolve(new, new_root)
    problems: list[str] = []
    old_types, new_types = _types(old, old_root), _types(new, new_root)
    if "any" not in new_types and not old_types <= new_types:
        problems.append(f"{path}: type changed {sorted(old_types)} -> {sorted(new_types)}")
        return problems
    old_enum, new_enum = set(map(str, old.get("enum", []))), set(map(str, new.get("enum", [])))
    if old_enum and new_enum and not old_enum <= new_enum:
        problems.append(f"{path}: enum values removed {sorted(old_enum - new_enum)}")
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name, sub in old_props.items():
        if name not in new_props:
            problems.append(f"{path}.{name}: field removed")
        else:
            problems += breaking_changes(sub, new_props[name], path=f"{path}.{name}", old_root=old_root, new_root=new_root)
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(newly_required):
        problems.append(f"{path}.{name}: new required field")
    for key in ("items", "additionalProperties"):
        if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
            problems += breaking_changes(old[key], new[key], path=f"{path}[{key}]", old_root=old_root, new_root=new_root)
    for branch in ("anyOf",):
        if branch in old and branch in new:
            for o in old[branch]:
                o_res = _resolve(o, old_root)
                match = [n for n in new[branch] if _types(n, new_root) == _types(o_res, old_root)]
                if match:
                    problems += breaking_changes(o_res, match[0], path=path, old_root=old_root, new_root=new_root)
    return problems


def check(snapshot_dir: Path = SNAPSHOT_DIR) -> list[str]:
    problems: list[str] = []
    current = current_schemas()
    for file in sorted(snapshot_dir.glob("*.json")):
        name = file.stem
        if name not in current:
            problems.append(f"{name}: contract removed")
            continue
        problems += [f"{name} {p}" for p in breaking_changes(json.loads(file.read_text()), current[name])]
    return problems


def write(snapshot_dir: Path = SNAPSHOT_DIR) -> int:
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    schemas = current_schemas()
    for name, schema in schemas.items():
        (snapshot_dir / f"{name}.json").write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    return len(schemas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.write:
        problems = check()
        if problems:
            print("refusing to overwrite snapshots with a breaking change:\n  " + "\n  ".join(problems))
            sys.exit(1)
        print(f"wrote {write()} schema snapshots to {SNAPSHOT_DIR}")
    else:
        problems = check()
        print("\n".join(problems) if problems else "contracts compatible with their snapshots")
        sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
