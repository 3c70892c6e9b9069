"""GET /api/leads/{id}, the hot read: served by a kit fast route on the asyncpg driver connection, it must
decode rows exactly as SQLAlchemy Core does and answer exactly the declared `LeadOut` schema."""

from __future__ import annotations

import uuid
from typing import Any

from leads_testkit import Harness
from sqlalchemy import text

from contracts.integrations import DEFAULT_WORKSPACE
from leads.entrypoints import schemas as s
from leads.entrypoints import views


async def _audited_lead_with_writeback(harness: Harness) -> uuid.UUID:
    lead_id = uuid.UUID((await harness.create_lead())["id"])
    run_id = uuid.uuid4()
    async with harness.service.runtime.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO audit_runs (id, lead_id, domain, status, requested_at, requested_by, completed_at, grade,"
            " score, summary) VALUES (:r, :l, 'acme-bakery.test', 'completed', now(), 'tester', now(), 'B', 81,"
            " 'Grade B.')"), {"r": run_id, "l": lead_id})
        await conn.execute(text(
            "UPDATE leads SET audit_run_id = :r, wb_variables = '{\"audit_grade\": \"B\"}'::jsonb,"
            " pv_raw_payload = '{\"event\": \"reply\", \"n\": [1, 2]}'::jsonb, wb_applied_at = now(),"
            " wb_delivered = true, wb_audit_run_id = :r WHERE id = :l"), {"r": run_id, "l": lead_id})
    return lead_id


async def test_driver_read_decodes_every_column_exactly_as_sqlalchemy_core(harness: Harness) -> None:
    lead_id = await _audited_lead_with_writeback(harness)
    engine = harness.service.runtime.engine
    fast = await views._fetch_lead_row(engine, lead_id, DEFAULT_WORKSPACE)
    async with engine.connect() as conn:
        row = (await conn.execute(views._LEAD_BY_ID, {"lead_id": lead_id, "workspace": DEFAULT_WORKSPACE})).first()
    assert fast is not None and row is not None
    core: dict[str, Any] = dict(row._mapping)
    assert fast == core
    assert {k: type(v) for k, v in fast.items()} == {k: type(v) for k, v in core.items()}
    assert fast["pv_raw_payload"] == {"event": "reply", "n": [1, 2]}
    assert fast["created_at"].utcoffset().total_seconds() == 0


async def test_detail_answers_exactly_the_declared_schema(harness: Harness) -> None:
    lead_id = await _audited_lead_with_writeback(harness)
    r = await harness.client.get(f"/api/leads/{lead_id}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert s.LeadOut.model_validate(body).model_dump(by_alias=True, mode="json") == body
    assert body["audit"]["grade"] == "B" and body["auditSummary"] == "Grade B."
    assert body["plusvibeLeadData"]["lastOutboundWriteback"]["variables"] == {"audit_grade": "B"}


async def test_detail_of_an_unknown_or_malformed_id_is_a_404_with_a_reason(harness: Harness) -> None:
    for lead_id in (str(uuid.uuid4()), "not-a-uuid", "normalise-status"):
        r = await harness.client.get(f"/api/leads/{lead_id}")
        assert r.status_code == 404
        assert r.json() == {"reason": "lead_not_found", "message": "No lead with that id."}


async def test_detail_read_returns_none_for_an_unknown_id(harness: Harness) -> None:
    assert await views.get_lead(uuid.uuid4(), DEFAULT_WORKSPACE, harness.service.runtime.engine) is None


async def test_the_driver_read_finds_a_lead_only_in_its_own_workspace(harness: Harness) -> None:
    lead_id = await _audited_lead_with_writeback(harness)
    engine = harness.service.runtime.engine
    assert await views.get_lead(lead_id, DEFAULT_WORKSPACE, engine) is not None
    assert await views._fetch_lead_row(engine, lead_id, "acme") is None
    assert await views.get_lead(lead_id, "acme", engine) is None
