"""The committed AsyncAPI and OpenAPI documents match what the code generates (`make asyncapi openapi`)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from outreach_local.openapi import SERVICES, build
from outreach_ops.asyncapi import build_document
from outreach_ops.consumer_groups import consumer_groups

ROOT = Path(__file__).resolve().parents[2]


def test_asyncapi_document_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "asyncapi.json").read_text())
    assert committed == build_document(consumer_groups(ROOT)), "run `make asyncapi` and commit docs/asyncapi.json"


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_document_is_current(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    committed = json.loads((ROOT / "docs" / "openapi" / f"{service}.json").read_text())
    with tempfile.TemporaryDirectory() as data_dir:
        current = json.loads(json.dumps(build(service, data_dir), sort_keys=True))
    assert committed == current, "run `make openapi` and commit docs/openapi"
