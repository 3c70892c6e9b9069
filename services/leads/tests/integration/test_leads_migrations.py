"""The leads migrations: concurrent start-up of several processes, the legacy `sent` normalisation, a schema
made before the kit tables had their own history (servicekit.kit_migrations) adopted by it, and rows made before
workspaces all landing in `default`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from leads.bootstrap import MIGRATIONS
from servicekit.kit_migrations import KIT_MIGRATIONS
from servicekit.process.db import create_engine
from servicekit.process.migrate import upgrade
from servicekit.process.migrate_cli import head_revision
from servicekit.testing import Database

pytestmark = [pytest.mark.postgres]
HEAD = head_revision(MIGRATIONS)


async def test_processes_starting_together_migrate_the_schema_once(pg_database: Database) -> None:
    await asyncio.gather(*(upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
                           for _ in range(4)))
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one() == HEAD
    await engine.dispose()


async def test_the_migration_normalises_legacy_sent_to_email_sent_with_history(pg_database: Database) -> None:
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS, revision="0001")
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    legacy, other = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for lead_id, status in ((legacy, "sent"), (other, "opened")):
            await conn.execute(text(
                "INSERT INTO leads (id, status, opens, version, created_at, updated_at) "
                "VALUES (:id, :status, 0, 1, :now, :now)"), {"id": lead_id, "status": status, "now": now})
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
    async with engine.connect() as conn:
        statuses = dict((await conn.execute(text("SELECT id, status FROM leads"))).all())
        history = (await conn.execute(text("SELECT lead_id, from_status, to_status, actor FROM status_history"))).all()
    await engine.dispose()
    assert statuses == {legacy: "email_sent", other: "opened"}
    assert [tuple(h) for h in history] == [(legacy, "sent", "email_sent", "migration")]


async def test_kit_tables_v2_adds_the_inbox_digest_to_a_v1_inbox_and_keeps_its_claims(pg_database: Database) -> None:
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS, revision="0002")
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    old_claim = uuid.uuid4()
    async with engine.begin() as conn:
        # The kit tables are created in their current shape; a schema made before v2 (and before the kit
        # history, whose baseline now adds the column) lacks the column and the kit's version table.
        await conn.execute(text("ALTER TABLE inbox DROP COLUMN payload_sha256, DROP COLUMN record_sha256"))
        await conn.execute(text("DROP TABLE kit_alembic_version"))
        await conn.execute(text("INSERT INTO inbox (consumer_group, event_id, event_type, processed_at) "
                                "VALUES ('g', :id, 'AuditCompleted', now())"), {"id": old_claim})
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT event_id, payload_sha256, record_sha256 FROM inbox"))).all()
        head = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        kit_head = (await conn.execute(text("SELECT version_num FROM kit_alembic_version"))).scalar_one()
    await engine.dispose()
    assert (head, kit_head) == (HEAD, head_revision(KIT_MIGRATIONS))
    assert [tuple(r) for r in rows] == [(old_claim, None, None)]


async def test_kit_tables_v3_adds_the_record_digest_to_a_v2_inbox_and_keeps_its_claims(pg_database: Database) -> None:
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS, revision="0004")
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    old_claim = uuid.uuid4()
    async with engine.begin() as conn:
        # The kit tables are created in their current shape; a schema made before v3 (and before the kit
        # history, whose baseline now adds the column) lacks the column and the kit's version table.
        await conn.execute(text("ALTER TABLE inbox DROP COLUMN record_sha256"))
        await conn.execute(text("DROP TABLE kit_alembic_version"))
        await conn.execute(text("INSERT INTO inbox (consumer_group, event_id, event_type, processed_at, "
                                "payload_sha256) VALUES ('g', :id, 'AuditCompleted', now(), :digest)"),
                           {"id": old_claim, "digest": "a" * 64})
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT event_id, payload_sha256, record_sha256 FROM inbox"))).all()
        head = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        kit_head = (await conn.execute(text("SELECT version_num FROM kit_alembic_version"))).scalar_one()
    await engine.dispose()
    assert (head, kit_head) == (HEAD, head_revision(KIT_MIGRATIONS))
    assert [tuple(r) for r in rows] == [(old_claim, "a" * 64, None)]


async def test_the_send_dry_run_tables_are_added_to_a_schema_with_leads_without_loss(pg_database: Database) -> None:
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS, revision="0003")
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    lead = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO leads (id, status, campaign_id, opens, version, created_at, updated_at) "
                                "VALUES (:id, 'email_sent', 'camp-1', 0, 3, now(), now())"), {"id": lead})
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT status, campaign_id, version, send_risk FROM leads"))).one()
        rules = (await conn.execute(text("SELECT count(*) FROM custom_storage_rules"))).scalar_one()
        fingerprints = (await conn.execute(text("SELECT count(*) FROM campaign_templates"))).scalar_one()
    await engine.dispose()
    assert tuple(row) == ("email_sent", "camp-1", 3, None)
    assert (rules, fingerprints) == (0, 0)


async def test_webhook_columns_are_added_to_a_connected_integration_without_loss(pg_database: Database) -> None:
    """An integration connected before webhooks were registered keeps its key and state; it has no hook yet."""
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS, revision="0006")
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO plusvibe_integrations (workspace, connected, plusvibe_workspace_id, plusvibe_workspace_name, "
            "sealed_api_key, key_fingerprint, key_masked, version, connected_at, verified_at, updated_at) VALUES "
            "('default', true, 'ws1', 'Demo', 'sealed-token', 'f1', '…abcd', 3, now(), now(), now())"))
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM plusvibe_integrations"))).mappings().one()
    await engine.dispose()
    assert (row["connected"], row["plusvibe_workspace_id"], row["sealed_api_key"], row["version"]) == (
        True, "ws1", "sealed-token", 3)
    assert (row["sealed_webhook_secret"], row["webhook_id"], row["webhook_url"], row["webhook_plusvibe_workspace_id"],
            row["webhook_registered_at"], row["webhook_error"]) == ("", "", "", "", None, None)


_WORKSPACE_TABLES = ("leads", "audit_runs", "status_history", "outreach_emails", "push_ledger", "campaign_templates")


async def _seed_before_workspaces(conn: AsyncConnection, lead: uuid.UUID, run: uuid.UUID) -> None:
    """One row in every table that becomes workspace-owned, as a deployment before workspaces had them."""
    await conn.execute(text(
        "INSERT INTO leads (id, email, status, campaign_id, audit_run_id, opens, version, created_at, updated_at) "
        "VALUES (:id, 'ada@acme.test', 'email_sent', 'camp-1', :run, 2, 5, now(), now())"), {"id": lead, "run": run})
    await conn.execute(text(
        "INSERT INTO audit_runs (id, lead_id, domain, status, requested_at, requested_by, grade) "
        "VALUES (:run, :id, 'acme.test', 'completed', now(), 'tester', 'B')"), {"id": lead, "run": run})
    await conn.execute(text(
        "INSERT INTO status_history (lead_id, from_status, to_status, actor, reason, changed_at) "
        "VALUES (:id, 'new', 'email_sent', 'tester', 'operator', now())"), {"id": lead})
    await conn.execute(text(
        "INSERT INTO outreach_emails (id, lead_id, type, step, subject, body, cta, writeback_status, created_at) "
        "VALUES (:e, :id, 'preview', 1, 'Hi', 'Body', 'Call', 'not_written', now())"), {"e": uuid.uuid4(), "id": lead})
    await conn.execute(text(
        "INSERT INTO push_ledger (lead_id, campaign_id, email, state, variables, pushed_at) "
        "VALUES (:id, 'camp-1', 'ada@acme.test', 'enrolled', '{\"audit_grade\": \"B\"}', now())"), {"id": lead})
    await conn.execute(text("INSERT INTO campaign_templates (campaign_id, fingerprint, checked_at) "
                            "VALUES ('camp-1', 'f1', now())"))


async def test_rows_made_before_workspaces_all_belong_to_default_without_loss(pg_database: Database) -> None:
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS, revision="0007")
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    lead, run = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await _seed_before_workspaces(conn, lead, run)
    before: dict[str, list[dict[str, object]]] = {}
    async with engine.connect() as conn:
        for table in _WORKSPACE_TABLES:
            before[table] = [dict(r) for r in (await conn.execute(text(f"SELECT * FROM {table}"))).mappings()]
    await engine.dispose()  # its connections cached `SELECT *` plans of the tables before the change
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    async with engine.connect() as conn:
        head = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        after = {table: [dict(r) for r in (await conn.execute(text(f"SELECT * FROM {table}"))).mappings()]
                 for table in _WORKSPACE_TABLES}
    await engine.dispose()
    assert head == HEAD
    for table in _WORKSPACE_TABLES:
        assert len(after[table]) == len(before[table]) == 1, table
        assert {row.pop("workspace") for row in after[table]} == {"default"}, table
        if table == "leads":  # 0009 (lead deletion) and 0013 (custom fields) run too: nothing deleted, no fields
            assert [(row.pop("deleted_at"), row.pop("custom_fields")) for row in after[table]] == [(None, None)]
        assert after[table] == before[table], table  # every other column exactly as it was


async def test_after_workspaces_the_same_email_and_campaign_may_exist_in_two_workspaces(
        pg_database: Database) -> None:
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    async with engine.begin() as conn:
        for workspace in ("default", "acme"):
            await conn.execute(text(
                "INSERT INTO leads (id, workspace, email, status, opens, version, created_at, updated_at) "
                "VALUES (:id, :ws, 'ada@acme.test', 'new', 0, 1, now(), now())"), {"id": uuid.uuid4(), "ws": workspace})
            await conn.execute(text("INSERT INTO campaign_templates (workspace, campaign_id, fingerprint, checked_at) "
                                    "VALUES (:ws, 'camp-1', :ws, now())"), {"ws": workspace})
    async with engine.connect() as conn:
        leads = (await conn.execute(text("SELECT workspace FROM leads WHERE email = 'ada@acme.test'"))).scalars()
        fingerprints: dict[str, str] = dict((await conn.execute(text(
            "SELECT workspace, fingerprint FROM campaign_templates WHERE campaign_id = 'camp-1'"))).all())
    await engine.dispose()
    assert sorted(leads) == ["acme", "default"]
    assert fingerprints == {"default": "default", "acme": "acme"}


async def _downgrade(url: str, schema: str, revision: str) -> None:
    from alembic import command

    from servicekit.process.migrate import _config

    engine = create_engine(url, schema=schema)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(_config(MIGRATIONS, sync), revision))
    finally:
        await engine.dispose()


async def test_a_downgrade_that_would_merge_workspaces_or_revive_deleted_leads_is_refused(
        pg_database: Database) -> None:
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    deleted, foreign = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        for lead, workspace, gone in ((deleted, "default", True), (foreign, "acme", False)):
            await conn.execute(text(
                "INSERT INTO leads (id, workspace, status, opens, version, created_at, updated_at, deleted_at) "
                "VALUES (:id, :ws, 'new', 0, 1, now(), now(), CASE WHEN :gone THEN now() END)"),
                {"id": lead, "ws": workspace, "gone": gone})
    with pytest.raises(RuntimeError, match="deleted leads exist"):
        await _downgrade(pg_database.url, pg_database.schema, "0008")
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM leads WHERE id = :id"), {"id": deleted})
    await _downgrade(pg_database.url, pg_database.schema, "0008")  # no deleted lead left: goes back
    with pytest.raises(RuntimeError, match="workspaces other than default"):
        await _downgrade(pg_database.url, pg_database.schema, "0007")
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one() == "0008"
        assert (await conn.execute(text("SELECT workspace FROM leads"))).scalars().all() == ["acme"]  # untouched
    await engine.dispose()


async def test_a_leads_newest_webhook_becomes_its_first_kept_webhook(pg_database: Database) -> None:
    """Before every webhook was kept, a lead held only the newest one: it is carried over, the rest stay as they were."""
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS, revision="0010")
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    enriched, quiet = uuid.uuid4(), uuid.uuid4()
    payload = '{"webhook_event": "LEAD_MARKED_AS_INTERESTED", "label": "INTERESTED"}'
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO leads (id, workspace, status, opens, version, created_at, updated_at, pv_label, "
            "pv_last_email_subject, pv_raw_payload, pv_last_activity_at) VALUES "
            "(:id, 'acme', 'replied', 0, 4, now(), now(), 'INTERESTED', 'Re: hi', CAST(:raw AS jsonb), now())"),
            {"id": enriched, "raw": payload})
        await conn.execute(text("INSERT INTO leads (id, status, opens, version, created_at, updated_at) "
                                "VALUES (:id, 'new', 0, 1, now(), now())"), {"id": quiet})
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT lead_id, workspace, activity, webhook_event, label, subject, raw_payload FROM lead_webhooks"))).all()
    await engine.dispose()
    assert [tuple(r) for r in rows] == [(enriched, "acme", "label_changed", "LEAD_MARKED_AS_INTERESTED", "INTERESTED",
                                         "Re: hi",
                                         {"webhook_event": "LEAD_MARKED_AS_INTERESTED", "label": "INTERESTED"})]
