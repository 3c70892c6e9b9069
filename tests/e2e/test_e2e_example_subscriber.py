"""The example subscriber another team would copy (examples/lead_subscriber) runs as its own process against the
real broker: on the system's real lead snapshots it ends with the API's version and status of a lead, and on a
hostile copy of them (reordered, duplicated, unknown fields, old-style headers, other types, garbage) it keeps
the newest version, applies each event once and never stops on a bad record."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from e2e_testkit import E2E
from test_e2e_seed_flow import create, lead, until

from contracts.topics import LEAD_STATUS_CHANGED, LEAD_UPSERTED
from outreach_ops.topic_admin import ensure_topics
from servicekit.testing import publish_raw, read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
SUBSCRIBER = ROOT / "examples" / "lead_subscriber" / "lead_subscriber.py"


def run_subscriber(bootstrap: str, topic: str, db: Path) -> list[dict[str, Any]]:
    """The subscriber as a user runs it (its own interpreter process, its own group), until its topic is idle."""
    done = subprocess.run(
        [sys.executable, str(SUBSCRIBER), "--bootstrap", bootstrap, "--topic", topic,
         "--group", f"team-x.lead-directory.{uuid.uuid4().hex[:8]}", "--schemas", str(ROOT / "contracts" / "schemas"),
         "--db", str(db), "--exit-when-idle", "4"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def stored(db: Path, lead_id: str) -> tuple[int, str] | None:
    import sqlite3

    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT version, status FROM leads WHERE lead_id = ?", (lead_id,)).fetchone()
    return (int(row[0]), str(row[1])) if row else None


async def test_the_example_subscriber_keeps_the_newest_lead_once_from_real_and_hostile_records(
        e2e: E2E, tmp_path: Path) -> None:
    created = await create(e2e, "quince-dental.test", "quinn@quince-dental.test", company="Quince Dental")
    lead_id = created["id"]
    r = await e2e.api.patch(f"/api/leads/{lead_id}", json={"status": "retargeted"})
    assert r.status_code == 200, r.text
    bootstrap, prefix = e2e.config.kafka_bootstrap, e2e.config.topic_prefix
    topic = f"{prefix}{LEAD_UPSERTED.name}"
    final = await lead(e2e, lead_id)
    mine: list[Any] = []

    async def published() -> bool:
        mine[:] = [rec for rec in await read_topic(bootstrap, topic, expected=100_000, timeout_s=2)
                   if rec.key == lead_id.encode()]
        return any(json.loads(rec.value)["data"]["lead"]["version"] == final["version"] for rec in mine)

    await until(published, "the lead's newest snapshot on the topic")

    # 1. The real topic, every lead on it: all records valid against the published schemas, our lead current.
    real = run_subscriber(bootstrap, topic, tmp_path / "real.sqlite")
    assert [d for d in real if d["decision"] not in {"applied", "stale", "duplicate"}] == []
    assert stored(tmp_path / "real.sqlite", lead_id) == (final["version"], "retargeted")
    for rec in mine:  # the platform's own headers: CloudEvents attributes that match the envelope
        headers = {k: v.decode() for k, v in rec.headers}
        envelope = json.loads(rec.value)
        assert headers["ce_id"] == envelope["event_id"] and headers["ce_subject"] == lead_id
        assert headers["ce_type"] == "io.outreach.LeadUpserted" and headers["ce_source"] == "/outreach/leads"

    # 2. A hostile copy of the same records on a private topic.
    hostile_prefix = f"{prefix}hostile{uuid.uuid4().hex[:6]}."
    await ensure_topics(bootstrap, [LEAD_UPSERTED], prefix=hostile_prefix, include_dlq=False)
    hostile = f"{hostile_prefix}{LEAD_UPSERTED.name}"
    newest = max(mine, key=lambda rec: json.loads(rec.value)["data"]["lead"]["version"])
    future = json.loads(newest.value)
    future["event_id"] = str(uuid.uuid4())
    future["brand_new_envelope_field"] = {"x": 1}
    future["data"]["brand_new_body_field"] = [1, 2]
    future["data"]["lead"]["version"] += 1
    future["data"]["lead"]["brand_new_lead_field"] = "ok"
    invalid = json.loads(newest.value)
    invalid["event_id"] = str(uuid.uuid4())
    del invalid["data"]["lead"]["version"]
    status_changes = await read_topic(bootstrap, f"{prefix}{LEAD_STATUS_CHANGED.name}", expected=1, timeout_s=10)
    sends: list[tuple[bytes | None, list[tuple[str, bytes]]]] = [
        *[(rec.value, list(rec.headers)) for rec in sorted(mine, key=lambda rec: -rec.offset)],  # newest first
        (newest.value, list(newest.headers)),  # a redelivery of the newest
        (b"\xff not json", []),
        (json.dumps(invalid).encode(), []),
        (status_changes[0].value, list(status_changes[0].headers)),  # another event type
        (json.dumps(future).encode(), [("event_type", b"LeadUpserted")]),  # old-style headers, unknown fields
    ]
    await publish_raw(bootstrap, hostile, [(lead_id.encode(), value, headers) for value, headers in sends])
    decisions = [d["decision"] for d in run_subscriber(bootstrap, hostile, tmp_path / "hostile.sqlite")]
    assert decisions == ["applied", *["stale"] * (len(mine) - 1), "duplicate", "rejected", "rejected", "ignored",
                         "applied"]
    assert stored(tmp_path / "hostile.sqlite", lead_id) == (final["version"] + 1, "retargeted")
