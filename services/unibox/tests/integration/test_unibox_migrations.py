"""Migration 0007 (every row belongs to a platform workspace) on a schema holding data, on PostgreSQL and on SQLite
(where the unique constraints are changed by copying the table): nothing is lost, every existing row belongs to
`default`, an idempotency key and a webhook payload become unique per workspace (the same one may be used in another
workspace, not twice in one), and an address is looked up per workspace."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Table, func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from servicekit.process.db import create_engine
from servicekit.process.migrate import upgrade
from servicekit.process.migrate_cli import head_revision
from servicekit.testing import Database
from unibox.adapters.orm import lead_projection, opens_seen, reply_intents, webhook_events
from unibox.adapters.repositories import LeadProjection
from unibox.bootstrap import MIGRATIONS

HEAD = head_revision(MIGRATIONS)
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LEAD, OTHER_LEAD, WEBHOOK, INTENT = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


@pytest.fixture(params=["postgres", "sqlite"])
def database(request: pytest.FixtureRequest) -> Database:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        database: Database = request.getfixturevalue("pg_database")
    else:
        database = request.getfixturevalue("sqlite_database")
    return database


def _engine(db: Database) -> AsyncEngine:
    return create_engine(db.url, schema=db.schema if db.url.startswith("postgresql") else None)


def _intent(intent_id: uuid.UUID, key: str, **values: Any) -> dict[str, Any]:
    return {"id": intent_id, "idempotency_key": key, "fingerprint": "f" * 64, "status": "sent", "reply_to_id": "e1",
            "from_address": "alex@sender.test", "to_address": "ana@example.test", "subject": "Re: hi",
            "body_html": "<p>hi</p>", "lead_id": LEAD, "plusvibe_email_id": "pv-1", "reconciled": False,
            "attempts": 1, "created_at": T0, "updated_at": T0, "sent_at": T0, **values}


def _webhook(webhook_id: uuid.UUID, dedupe_key: str, **values: Any) -> dict[str, Any]:
    return {"id": webhook_id, "dedupe_key": dedupe_key, "webhook_event": "EMAIL_SENT",
            "payload": {"webhook_event": "EMAIL_SENT", "email": "ana@example.test"}, "received_at": T0,
            "last_received_at": T0, "deliveries": 2, "processed_at": T0, "activity": "sent", "lead_id": LEAD,
            "outcome": "emitted", **values}


async def _rows(engine: AsyncEngine, table: Table) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(select(table))).mappings()]


async def _refused(engine: AsyncEngine, table: Table, values: dict[str, Any]) -> bool:
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(table).values(**values))
    except IntegrityError:
        return True
    return False


async def test_0007_keeps_every_row_in_default_and_makes_keys_unique_per_workspace(database: Database) -> None:
    await upgrade(database.url, schema=database.schema, script_location=MIGRATIONS, revision="0006")
    engine = _engine(database)
    try:
        async with engine.begin() as conn:  # the 0006 shape: no workspace but on webhook_events
            for lead_id, campaign in ((LEAD, "camp-a"), (OTHER_LEAD, None)):
                await conn.execute(insert(lead_projection).values(
                    lead_id=lead_id, version=3, email="ana@example.test", campaign_id=campaign, status="email_sent",
                    deleted=False, updated_at=T0, opens_checked_at=T0))
            await conn.execute(insert(webhook_events).values(**_webhook(WEBHOOK, "d" * 64)))
            await conn.execute(insert(reply_intents).values(**_intent(INTENT, "reply-1")))
            await conn.execute(insert(opens_seen).values(lead_id=LEAD, campaign_id="camp-a", observed_at=T0))

        await upgrade(database.url, schema=database.schema, script_location=MIGRATIONS)

        async with engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
            indexes = await conn.run_sync(lambda c: {
                t: {i["name"]: i["column_names"] for i in inspect(c).get_indexes(t)}
                for t in ("lead_projection", "webhook_events")})
        leads = await _rows(engine, lead_projection)
        webhooks = await _rows(engine, webhook_events)
        intents = await _rows(engine, reply_intents)
        opens = await _rows(engine, opens_seen)

        # One workspace's key or payload again in that workspace: refused; in another workspace: its own row.
        refused = [await _refused(engine, reply_intents, _intent(uuid.uuid4(), "reply-1", workspace="default")),
                   await _refused(engine, webhook_events, _webhook(uuid.uuid4(), "d" * 64, workspace="default"))]
        admitted = [await _refused(engine, reply_intents, _intent(uuid.uuid4(), "reply-1", workspace="acme")),
                    await _refused(engine, webhook_events, _webhook(uuid.uuid4(), "d" * 64, workspace="acme"))]
        async with engine.connect() as conn:
            counts = [int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
                      for t in (reply_intents, webhook_events)]
            session = AsyncSession(bind=conn)
            found = {w: await LeadProjection(session).find(w, "ANA@example.test", "camp-a")
                     for w in ("default", "acme")}
            await session.close()
    finally:
        await engine.dispose()

    assert version == HEAD == "0007"
    assert sorted((r["lead_id"], r["workspace"], r["version"], r["email"], r["campaign_id"], r["opens_checked_at"])
                  for r in leads) == sorted([(LEAD, "default", 3, "ana@example.test", "camp-a", T0),
                                             (OTHER_LEAD, "default", 3, "ana@example.test", None, T0)])
    assert webhooks == [{**_webhook(WEBHOOK, "d" * 64), "workspace": "default"}]
    assert intents == [{**_intent(INTENT, "reply-1"), "workspace": "default", "error_reason": None,
                        "error_message": None}]
    assert opens == [{"lead_id": LEAD, "campaign_id": "camp-a", "observed_at": T0, "workspace": "default"}]
    assert refused == [True, True] and admitted == [False, False]
    assert counts == [2, 2]
    assert found["default"] is not None and found["default"].lead_id == LEAD and found["acme"] is None
    assert indexes["lead_projection"] == {"ix_lead_projection_email": ["workspace", "email"]}
    assert "ix_webhook_events_unprocessed" in indexes["webhook_events"]  # kept through SQLite's table copy
