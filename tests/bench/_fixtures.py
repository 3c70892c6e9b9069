"""Benchmark data: leads inserted DIRECTLY into the leads schema with the service's own ORM tables (creating
10,000 leads through the API would dominate the run), writeback projection rows, and the AuditCompleted
envelopes audits would publish."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import DB_URL
from sqlalchemy import insert

from contracts.audits import AuditCompleted
from contracts.common import AuditProfile, CategoryScores
from contracts.envelope import Envelope
from copywriter import LeadFacts, Tone, body_variables
from leads.adapters.orm import AuditRunRow, LeadRow
from servicekit.messaging.events import new_envelope
from servicekit.process.db import create_engine

CHUNK = 1000


def profile(run_id: uuid.UUID) -> AuditProfile:
    return AuditProfile(
        audit_grade="C", audit_score="72", audit_url=f"http://reports.test/r/{run_id.hex}", audit_date="2026-11-28",
        top_issue="Visitors see a 'Not secure' warning", second_issue="Search results show no description",
        issues_found="7", seo_score="70", performance_score="80", security_score="55", accessibility_score="90",
        mobile_ready="yes", load_time_s="1.4", https_status="no_redirect", ssl_days_left="60",
        meta_description_status="missing", h1_status="ok", email_auth_status="partial",
    )


def ready_variables(steps: int = 3) -> dict[str, str]:
    """A complete payload (18 profile keys + body keys of `steps` steps), as writeback produces it."""
    prof = profile(uuid.uuid4()).model_dump()
    body = body_variables(LeadFacts(company_name="Acme Bakery", domain="acme-bakery.test", first_name="Ada"), prof,
                          tone=Tone.CONSULTATIVE, steps=steps)
    return {**prof, **body}


def lead_rows(n: int, *, tag: str, status: str, audited: bool, variables: dict[str, str] | None = None,
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(lead rows, audit run rows): leads whose audit was requested (run linked) and, if `variables`, whose
    writeback already applied (email_generated)."""
    now = datetime.now(UTC)
    requested = now - timedelta(minutes=5)
    leads: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    for i in range(n):
        lid, rid = uuid.uuid4(), uuid.uuid4()
        row: dict[str, Any] = {
            "id": lid, "company_name": f"Bench Co {i}", "domain": f"bench-{i}.test", "first_name": "Ada",
            "last_name": "Baker", "email": f"ada.{tag}.{i}@bench-{i}.test", "title": "Owner", "phone": None,
            "notes": None, "status": status, "campaign_id": None, "opens": 0, "version": 1,
            "created_at": now, "updated_at": now, "audit_run_id": None, "audit_requested_at": None,
            "wb_variables": None, "wb_audit_run_id": None, "wb_delivered": None, "wb_applied_at": None,
        }
        if audited:
            row.update(audit_run_id=rid, audit_requested_at=requested)
            runs.append({"id": rid, "lead_id": lid, "domain": row["domain"],
                         "status": "completed" if variables else "queued", "requested_at": requested,
                         "requested_by": "bench", "completed_at": now if variables else None,
                         "grade": "C" if variables else None, "score": 72 if variables else None,
                         "summary": "Grade C: fix https first." if variables else None})
        if variables is not None:
            row.update(wb_variables=variables, wb_audit_run_id=rid, wb_delivered=False, wb_applied_at=now)
        leads.append(row)
    return leads, runs


async def insert_leads(schema: str, leads: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]]) -> None:
    engine = create_engine(DB_URL, schema=schema, pool_size=2)
    try:
        async with engine.begin() as conn:
            for start in range(0, len(leads), CHUNK):
                await conn.execute(insert(LeadRow), list(leads[start:start + CHUNK]))
            for start in range(0, len(runs), CHUNK):
                await conn.execute(insert(AuditRunRow), list(runs[start:start + CHUNK]))
    finally:
        await engine.dispose()


async def insert_projection(schema: str, leads: Sequence[dict[str, Any]], *, campaign_id: str | None) -> None:
    """What writeback already knows of each lead from LeadUpserted/LeadPushed (steady state)."""
    from writeback.adapters.orm import lead_projection

    now = datetime.now(UTC)
    rows = [{"lead_id": lead["id"], "snapshot_version": 1, "deleted": False, "company_name": lead["company_name"],
             "domain": lead["domain"], "first_name": lead["first_name"], "last_name": lead["last_name"],
             "job_title": lead["title"], "contact_email": lead["email"], "campaign_id": campaign_id,
             "link_email": lead["email"] if campaign_id else None, "link_at": now if campaign_id else None,
             "updated_at": now} for lead in leads]
    engine = create_engine(DB_URL, schema=schema, pool_size=2)
    try:
        async with engine.begin() as conn:
            for start in range(0, len(rows), CHUNK):
                await conn.execute(lead_projection.insert(), rows[start:start + CHUNK])
    finally:
        await engine.dispose()


def audit_completed(lead: dict[str, Any]) -> Envelope:
    rid: uuid.UUID = lead["audit_run_id"]
    return new_envelope(AuditCompleted(
        lead_id=lead["id"], audit_run_id=rid, domain=lead["domain"], requested_at=lead["audit_requested_at"],
        completed_at=datetime.now(UTC), grade="C", score=72,
        category_scores=CategoryScores(seo=70, performance=80, security=55, mobile=100, accessibility=90),
        top_issue="Visitors see a 'Not secure' warning", second_issue="Search results show no description",
        summary="Grade C: fix https first.", report_url=f"http://reports.test/r/{rid.hex}", profile=profile(rid),
    ))
