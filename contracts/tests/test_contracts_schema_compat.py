"""The snapshot test: committed JSON Schemas vs the code, and the compatibility rule itself."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from contracts.envelope import EventData
from contracts.registry import EVENT_MODELS
from outreach_ops.schema_compat import SNAPSHOT_DIR, breaking_changes, check, current_schemas


def test_every_contract_has_a_committed_snapshot_and_none_is_broken() -> None:
    names = {p.stem for p in SNAPSHOT_DIR.glob("*.json")}
    assert names == set(current_schemas())
    assert check() == []


class V1(EventData):
    EVENT_TYPE: ClassVar[str] = "Example"
    PRODUCER: ClassVar[str] = "test"
    lead_id: str
    score: int
    label: str | None = None


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def test_an_additive_change_passes() -> None:
    class V2(V1):
        sentiment: str | None = None  # new optional field

    assert breaking_changes(_schema(V1), _schema(V2)) == []


def test_a_removed_field_fails() -> None:
    new = copy.deepcopy(_schema(V1))
    del new["properties"]["label"]
    assert breaking_changes(_schema(V1), new) == ["$.label: field removed"]


def test_a_changed_type_fails() -> None:
    new = copy.deepcopy(_schema(V1))
    new["properties"]["score"] = {"type": "string"}
    assert any("type changed" in p for p in breaking_changes(_schema(V1), new))


def test_a_new_required_field_fails() -> None:
    class V2(V1):
        must_have: str

    assert breaking_changes(_schema(V1), _schema(V2)) == ["$.must_have: new required field"]


def test_a_nested_breaking_change_is_found_through_refs() -> None:
    old = EVENT_MODELS["AuditCompleted"].model_json_schema()
    new = json.loads(json.dumps(old))
    del new["$defs"]["AuditProfile"]["properties"]["h1_status"]
    assert breaking_changes(old, new) == ["$.profile.h1_status: field removed"]


def test_snapshots_are_the_files_in_the_repo() -> None:
    assert Path(__file__).resolve().parents[1] / "schemas" == SNAPSHOT_DIR
