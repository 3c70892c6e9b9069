"""A standalone subscriber to the outreach platform's lead snapshots: copy this file to start your own.

It keeps a local directory of leads (SQLite) from the `leads.lead-upserted.v1` topic, the way another team would:

- **Its own consumer group** (`--group`), starting from the earliest record: the topic is compacted and keeps
  the newest snapshot of every lead forever, so a new subscriber reads it once to build its state.
- **CloudEvents headers** (Kafka binding, binary content mode) tell the event's id and type before the value is
  parsed; records without them (written before the platform added them) fall back to the envelope's fields.
- **The published JSON Schemas** (`contracts/schemas/Envelope.v1.json` and `LeadUpserted.v1.json`, `--schemas`)
  validate each record; it imports nothing from the platform's code.
- **Unknown fields are ignored**: producers add fields within a version, the schemas allow them, and this
  subscriber reads only the fields it knows.
- **Dedupe by event id**: delivery is at-least-once, so a record can arrive twice; the event id is recorded in
  the same SQLite transaction as the change (one transaction per fetched batch), and a second copy changes
  nothing.
- **Newest version wins**: every snapshot carries the lead's `version`; an older one arriving late is dropped.
- **Offsets are committed after the state**: a crash in between re-reads the batch, which the dedupe absorbs.

One line of JSON per record goes to stdout (`applied`, `duplicate`, `stale`, `ignored`, `rejected`, `deleted`).

    pip install aiokafka jsonschema cloudevents
    python lead_subscriber.py --bootstrap 127.0.0.1:19092 --topic leads.lead-upserted.v1 --group team-x.lead-directory \\
        --schemas contracts/schemas --db leads.sqlite

On the secured cluster add `--security-protocol SASL_SSL --sasl-username <your KafkaUser> --ssl-cafile ca.crt`
and put the password in `KAFKA_SASL_PASSWORD`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.helpers import create_ssl_context
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

LEAD_UPSERTED = "io.outreach.LeadUpserted"  # the CloudEvents type; the envelope's event_type is "LeadUpserted"

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS leads (
    lead_id TEXT PRIMARY KEY, version INTEGER NOT NULL, status TEXT NOT NULL, company_name TEXT,
    domain TEXT, email TEXT, deleted INTEGER NOT NULL, snapshot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen_events (event_id TEXT PRIMARY KEY);
"""


@dataclass(frozen=True)
class Validators:
    envelope: jsonschema.protocols.Validator
    lead_upserted: jsonschema.protocols.Validator

    @classmethod
    def load(cls, schemas: Path) -> Validators:
        def one(name: str) -> jsonschema.protocols.Validator:
            schema = json.loads((schemas / f"{name}.v1.json").read_text())
            return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())

        return cls(envelope=one("Envelope"), lead_upserted=one("LeadUpserted"))


class LeadDirectory:
    """The subscriber's own state: the newest snapshot per lead and the event ids already applied."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=WAL")  # a commit appends to the log instead of rewriting pages
        self.db.executescript(SCHEMA_SQL)

    def apply(self, event_id: str, snapshot: dict[str, Any], deleted: bool) -> str:
        """Inside the batch's transaction (`run`): the dedupe record and the change commit together."""
        if self.db.execute("INSERT OR IGNORE INTO seen_events VALUES (?)", (event_id,)).rowcount == 0:
            return "duplicate"
        contact = snapshot.get("contact") or {}
        changed = self.db.execute(
            "INSERT INTO leads VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (lead_id) DO UPDATE SET "
            "version = excluded.version, status = excluded.status, company_name = excluded.company_name, "
            "domain = excluded.domain, email = excluded.email, deleted = excluded.deleted, "
            "snapshot = excluded.snapshot WHERE excluded.version > leads.version",
            (snapshot["lead_id"], snapshot["version"], snapshot["status"], snapshot.get("company_name"),
             snapshot.get("domain"), contact.get("email"), int(deleted), json.dumps(snapshot)),
        ).rowcount
        return "applied" if changed else "stale"

    def forget(self, lead_id: str) -> None:
        self.db.execute("DELETE FROM leads WHERE lead_id = ?", (lead_id,))


def handle(record: ConsumerRecord, validators: Validators, directory: LeadDirectory) -> dict[str, Any]:
    """One record → one decision. Never raises for a bad record: it is reported and skipped."""
    key = record.key.decode() if record.key else None
    if record.value is None:  # a tombstone: the lead is gone from the compacted topic
        if key:
            directory.forget(key)
        return {"decision": "deleted", "lead_id": key}
    headers = {name: bytes(value) for name, value in record.headers or ()}
    try:
        envelope = json.loads(record.value)
    except ValueError as exc:
        return {"decision": "rejected", "reason": f"not JSON: {exc}", "offset": record.offset}
    if "ce_specversion" in headers:
        event = from_binary(KafkaMessage(headers=headers, key=record.key, value=record.value), JSONFormat(),
                            CloudEvent)
        event_id, event_type = event.get_id(), event.get_type()
    elif isinstance(envelope, dict):  # a record from before the CloudEvents headers
        event_id, event_type = str(envelope.get("event_id")), "io.outreach." + str(envelope.get("event_type"))
    else:
        return {"decision": "rejected", "reason": "not an envelope", "offset": record.offset}
    if event_type != LEAD_UPSERTED:
        return {"decision": "ignored", "type": event_type, "event_id": event_id}
    problems = [e.message for e in validators.envelope.iter_errors(envelope)]
    problems += [e.message for e in validators.lead_upserted.iter_errors(envelope.get("data"))] if not problems else []
    if problems:
        return {"decision": "rejected", "reason": problems[0][:300], "event_id": event_id, "offset": record.offset}
    data = envelope["data"]
    snapshot = data["lead"]
    decision = directory.apply(event_id, snapshot, bool(data.get("deleted", False)))
    return {"decision": decision, "event_id": event_id, "lead_id": snapshot["lead_id"],
            "version": snapshot["version"], "status": snapshot["status"]}


async def run(args: argparse.Namespace) -> None:
    validators = Validators.load(Path(args.schemas))
    directory = LeadDirectory(args.db)
    security: dict[str, Any] = {"security_protocol": args.security_protocol}
    if args.security_protocol.startswith("SASL"):
        security |= {"sasl_mechanism": args.sasl_mechanism, "sasl_plain_username": args.sasl_username,
                     "sasl_plain_password": os.environ.get("KAFKA_SASL_PASSWORD", "")}
    if args.security_protocol.endswith("SSL"):
        security["ssl_context"] = create_ssl_context(cafile=args.ssl_cafile)
    consumer = AIOKafkaConsumer(args.topic, bootstrap_servers=args.bootstrap, group_id=args.group,
                                enable_auto_commit=False, auto_offset_reset="earliest", **security)
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stopping.set)
    await consumer.start()
    idle_since = asyncio.get_running_loop().time()
    try:
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            now = asyncio.get_running_loop().time()
            if not batches:
                if args.exit_when_idle and now - idle_since >= args.exit_when_idle:
                    break
                continue
            idle_since = now
            # One transaction per fetched batch (a commit per record made a bootstrap of 20,000 snapshots take
            # 50 s); the decisions are printed once it has committed, so none is claimed that a crash undid.
            with directory.db:
                decisions = [handle(record, validators, directory)
                             for records in batches.values() for record in records]
            print("\n".join(json.dumps(d) for d in decisions), flush=True)
            await consumer.commit()  # after the state is committed: at-least-once, absorbed by the dedupe
    finally:
        await consumer.stop()
        directory.db.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", default="leads.lead-upserted.v1", help="with the deployment's topic prefix, if any")
    parser.add_argument("--group", required=True, help="your team's own group, e.g. team-x.lead-directory")
    parser.add_argument("--schemas", required=True, help="the folder with Envelope.v1.json and LeadUpserted.v1.json")
    parser.add_argument("--db", default="leads.sqlite")
    parser.add_argument("--exit-when-idle", type=float, default=0.0, metavar="SECONDS",
                        help="stop after this long without records (0: run until SIGINT/SIGTERM)")
    parser.add_argument("--security-protocol", default="PLAINTEXT",
                        choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
    parser.add_argument("--sasl-mechanism", default="SCRAM-SHA-512")
    parser.add_argument("--sasl-username")
    parser.add_argument("--ssl-cafile")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
