"""The history checker: what happened, recorded from the system's own durable traces (never from logs), and the
verdict computed from it: **lost**, **duplicated** and **unseen**, per lead and per effect.

Recorded after the run:
- every record of every topic of the run (the broker's acknowledged log) and of every DLQ;
- every outbox row of every service (each event a service committed to publish) and every inbox row (each
  event a consumer group recorded as applied, with its type);
- the effect rows: leads (the variables applied and the audit run they came from), the status history, the
  audits' runs, writeback's attempts;
- every request the PlusVibe simulator received (path, status, fault, time), and its sends.

Judged:
- lost: a committed outbox row whose event is not in its topic; a started lead missing a stage of the pipeline
  (AuditRequested → run completed → AuditCompleted → writeback attempt → WritebackCompleted → variables applied);
- duplicated: more than one event (distinct ids) or effect row for one (lead, audit run) and stage; more than one
  applied PlusVibe update per linked lead for the run; more than one `email_generated` transition;
- unseen: a record of a type some consumer group consumes that the group's inbox never recorded.
"""

from __future__ import annotations

import asyncio
import collections
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx


@dataclass(frozen=True)
class TopicRecord:
    topic: str  # without the run's prefix
    partition: int
    offset: int
    event_id: uuid.UUID
    event_type: str
    data: dict[str, Any]

    @property
    def lead_id(self) -> str | None:
        value = self.data.get("lead_id")
        return None if value is None else str(value)

    @property
    def run_id(self) -> str | None:
        value = self.data.get("audit_run_id")
        return None if value is None else str(value)


@dataclass
class History:
    records: list[TopicRecord] = field(default_factory=list)
    dlq: dict[str, int] = field(default_factory=dict)  # DLQ topic -> records
    outbox: dict[str, list[tuple[uuid.UUID, str, datetime | None]]] = field(default_factory=dict)  # svc -> rows
    inbox: dict[str, set[uuid.UUID]] = field(default_factory=dict)  # consumer group -> event ids
    leads: dict[str, dict[str, Any]] = field(default_factory=dict)
    email_generated: collections.Counter[str] = field(default_factory=collections.Counter)
    audit_runs: dict[str, str] = field(default_factory=dict)  # audits' run id -> status
    attempts: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    sim_requests: list[dict[str, Any]] = field(default_factory=list)
    sim_max_in_any_second: int = 0
    sim_variable_updates: list[dict[str, Any]] = field(default_factory=list)  # applied /lead/data/update


async def read_topics(bootstrap: str, prefix: str, *, timeout_s: float = 120.0) -> tuple[list[TopicRecord],
                                                                                         dict[str, int]]:
    """Every record of the run's topics, from the first offset to the end offset at the time of reading, and
    the record count of each DLQ."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from servicekit.testing import topic_partitions

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    records: list[TopicRecord] = []
    dlq: dict[str, int] = {}
    try:
        names = sorted(t for t in await consumer.topics() if t.startswith(prefix))
        parts = [TopicPartition(t, p) for t in names for p in await topic_partitions(bootstrap, t)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        remaining = {tp for tp in parts if ends[tp] > 0}
        async with asyncio.timeout(timeout_s):
            while remaining:
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for tp, items in batch.items():
                    name = tp.topic[len(prefix):]
                    for r in items:
                        if name.endswith(".dlq"):
                            dlq[name] = dlq.get(name, 0) + 1
                        else:
                            env = json.loads(r.value)
                            records.append(TopicRecord(name, tp.partition, r.offset, uuid.UUID(env["event_id"]),
                                                       env["event_type"], env["data"]))
                    if items and items[-1].offset + 1 >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
    return records, dlq


async def record(history: History, *, bootstrap: str, prefix: str, dsn: str, schemas: dict[str, str],
                 sim: httpx.AsyncClient, since: datetime) -> History:
    """Fills `history` from the broker, every service's schema and the simulator. `since`: the start of the
    judged phase (status transitions before it belong to the set-up)."""
    # The tables first, the log second: an outbox row marked sent was acknowledged before it was marked, so it
    # is in the log read afterwards; reading the other way round would call a row sent in between "lost".
    conn = await asyncpg.connect(dsn)
    try:
        for service, schema in schemas.items():
            rows = await conn.fetch(f'SELECT event_id, topic, sent_at FROM "{schema}".outbox')
            history.outbox[service] = [(r["event_id"], r["topic"], r["sent_at"]) for r in rows]
            for r in await conn.fetch(f'SELECT consumer_group, event_id FROM "{schema}".inbox'):
                history.inbox.setdefault(r["consumer_group"], set()).add(r["event_id"])
        leads = schemas["leads"]
        for r in await conn.fetch(f'SELECT id, email, campaign_id, wb_audit_run_id, wb_variables, wb_delivered '
                                  f'FROM "{leads}".leads'):
            variables = r["wb_variables"]
            history.leads[str(r["id"])] = {
                "email": r["email"], "campaign_id": r["campaign_id"],
                "wb_audit_run_id": None if r["wb_audit_run_id"] is None else str(r["wb_audit_run_id"]),
                "wb_variables": json.loads(variables) if isinstance(variables, str | bytes) else variables,
                "wb_delivered": r["wb_delivered"]}
        for r in await conn.fetch(f'SELECT lead_id, count(*) AS n FROM "{leads}".status_history '
                                  f"WHERE to_status = 'email_generated' AND changed_at >= $1 GROUP BY lead_id", since):
            history.email_generated[str(r["lead_id"])] = r["n"]
        for r in await conn.fetch(f'SELECT id, status FROM "{schemas["audits"]}".audit_runs'):
            history.audit_runs[str(r["id"])] = r["status"]
        for r in await conn.fetch(f'SELECT lead_id, audit_run_id, count(*) AS n FROM "{schemas["writeback"]}"'
                                  f".writeback_attempts GROUP BY lead_id, audit_run_id"):
            history.attempts[(str(r["lead_id"]), str(r["audit_run_id"]))] = r["n"]
    finally:
        await conn.close()
    history.records, history.dlq = await read_topics(bootstrap, prefix)
    log = (await sim.get("/_sim/requests")).json()
    history.sim_requests, history.sim_max_in_any_second = log["requests"], log["max_in_any_second"]
    history.sim_variable_updates = (await sim.get("/_sim/lead-updates")).json()
    return history


@dataclass
class Verdict:
    lost: dict[str, list[str]] = field(default_factory=dict)  # stage -> what is missing
    duplicated: dict[str, list[str]] = field(default_factory=dict)
    unseen: dict[str, list[str]] = field(default_factory=dict)  # consumer group -> event ids it never recorded
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, kind: dict[str, list[str]], stage: str, items: Iterable[str]) -> None:
        found = list(items)
        if found:
            kind.setdefault(stage, []).extend(found)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.unseen)

    def summary(self) -> str:
        def brief(kind: dict[str, list[str]]) -> str:
            return ", ".join(f"{stage}: {len(items)} (e.g. {items[:3]})" for stage, items in kind.items()) or "0"

        return f"lost {brief(self.lost)}; duplicated {brief(self.duplicated)}; unseen {brief(self.unseen)}"


def judge(history: History, *, runs: dict[str, str], linked: dict[str, str], since_wall: float,
          subscribed: dict[str, str]) -> Verdict:
    """`runs`: lead id -> the audit run started in the judged phase (its newest); `linked`: lead id -> email of
    the leads in a campaign (writeback must update them in PlusVibe); `since_wall`: the phase's start (time.time);
    `subscribed`: consumer group (without the run's prefix) -> the event type it consumes, from the services'
    registrations (`outreach_ops.consumer_groups`), not from what the inboxes happen to hold."""
    v = Verdict()
    by_type: dict[str, list[TopicRecord]] = collections.defaultdict(list)
    for r in history.records:
        by_type[r.event_type].append(r)

    # --- the outbox against the log: every committed event reached its topic; nothing left unsent
    on_topics = {r.event_id for r in history.records}
    for service, rows in history.outbox.items():
        v.add(v.lost, f"{service} outbox -> topic", (str(e) for e, _topic, sent in rows if e not in on_topics))
        v.add(v.lost, f"{service} outbox unsent", (str(e) for e, _topic, sent in rows if sent is None))

    # --- the pipeline per lead, for the run it started in the judged phase
    def per_run(event_type: str) -> dict[tuple[str, str], set[uuid.UUID]]:
        out: dict[tuple[str, str], set[uuid.UUID]] = collections.defaultdict(set)
        for r in by_type[event_type]:
            if r.lead_id and r.run_id:
                out[(r.lead_id, r.run_id)].add(r.event_id)
        return out

    requested, completed, written = per_run("AuditRequested"), per_run("AuditCompleted"), per_run("WritebackCompleted")
    variables_of = {(r.lead_id, r.run_id): r.data.get("variables") for r in by_type["WritebackCompleted"]}
    for stage, events in (("AuditRequested", requested), ("AuditCompleted", completed),
                          ("WritebackCompleted", written)):
        v.add(v.lost, stage, (lead for lead, run in runs.items() if not events.get((lead, run))))
        v.add(v.duplicated, stage, (f"{lead}: {len(events[(lead, run)])} events" for lead, run in runs.items()
                                    if len(events.get((lead, run), ())) > 1))
    v.add(v.lost, "audit run completed", (lead for lead, run in runs.items()
                                          if history.audit_runs.get(run) != "completed"))
    v.add(v.lost, "writeback attempt", (lead for lead, run in runs.items() if not history.attempts[(lead, run)]))
    v.add(v.duplicated, "writeback attempt", (f"{lead}: {history.attempts[(lead, run)]}"
                                              for lead, run in runs.items() if history.attempts[(lead, run)] > 1))
    applied_wrong = []
    for lead, run in runs.items():
        row = history.leads.get(lead) or {}
        if row.get("wb_audit_run_id") != run or row.get("wb_variables") != variables_of.get((lead, run)):
            applied_wrong.append(lead)
    v.add(v.lost, "variables of the newest audit applied", applied_wrong)
    v.add(v.lost, "email_generated", (lead for lead in runs if lead not in linked
                                      and history.email_generated[lead] == 0))
    v.add(v.duplicated, "email_generated", (f"{lead}: {n}" for lead, n in history.email_generated.items() if n > 1))
    v.add(v.lost, "linked lead delivered", (lead for lead in linked
                                            if (history.leads.get(lead) or {}).get("wb_delivered") is not True))

    # --- PlusVibe: applied updates per linked lead in the phase (an injected 503 or a drop before applying
    # changed nothing; a drop *after* applying did), and the account's rate over every process
    updates = [r for r in history.sim_requests
               if r["path"] == "/api/v1/lead/data/update" and r["at"] >= since_wall]
    per_lead = updates_per_lead(u for u in history.sim_variable_updates if u["at"] >= since_wall)
    v.add(v.lost, "PlusVibe update", (lead for lead, email in linked.items() if not per_lead[email]))
    v.add(v.duplicated, "PlusVibe update", (f"{email}: {per_lead[email]} updates" for email in linked.values()
                                            if per_lead[email] > 1))
    v.figures["plusvibe_updates_per_linked_lead_max"] = max((per_lead[e] for e in linked.values()), default=0)
    v.figures["plusvibe_updates_seen"] = len(updates)
    v.figures["plusvibe_updates_applied"] = sum(per_lead.values())
    v.figures["plusvibe_update_drops_after_applying"] = sum(1 for r in updates if r["fault"] == "drop-after")
    v.figures["plusvibe_read_backs"] = sum(1 for r in history.sim_requests
                                           if r["path"] == "/api/v1/lead/get" and r["at"] >= since_wall)
    v.figures["plusvibe_max_requests_in_any_second"] = history.sim_max_in_any_second
    v.figures["plusvibe_densest_second"] = densest_second(history.sim_requests, since_wall)
    # Every call about one linked lead (updates, read-backs), answered or not: what PlusVibe saw per lead.
    calls = collections.Counter(r["lead"] for r in history.sim_requests
                                if r["at"] >= since_wall and r.get("lead") in set(linked.values()))
    v.figures["plusvibe_calls_per_linked_lead_max"] = max(calls.values(), default=0)
    v.figures["plusvibe_updates_seen_per_linked_lead_max"] = max(
        collections.Counter(r["lead"] for r in updates if r.get("lead")).values(), default=0)

    # --- unseen: every consumer group the services register must have recorded every record of the type it
    # consumes (a group whose inbox holds nothing at all is judged too: it saw none of them)
    for group, event_type in sorted(subscribed.items()):
        inboxes = [ids for name, ids in history.inbox.items() if name == group or name.endswith(group)]
        seen = set().union(*inboxes) if inboxes else set()
        v.add(v.unseen, group, (f"{r.event_type} {r.event_id}" for r in by_type[event_type]
                                if r.event_id not in seen))

    # --- figures
    v.figures["events_on_topics"] = len(on_topics)
    v.figures["records_on_topics"] = len(history.records)
    v.figures["redelivered_records"] = len(history.records) - len(on_topics)
    v.figures["dlq_records"] = sum(history.dlq.values())
    v.figures["leads_judged"] = len(runs)
    v.figures["linked_leads"] = len(linked)
    return v


def densest_second(requests: list[dict[str, Any]], since_wall: float) -> list[str]:
    """The requests of the fullest 1-second window the simulator saw (its own arrival clock), to tell a limiter that
    let too many through (their slots too close) from arrivals bunched on the way (slots apart, stamps close); the
    first line says when it was (seconds from the phase's start, as the faults' `at_s`)."""
    ordered = sorted(requests, key=lambda r: r["mono"])
    best: tuple[int, int] = (0, 0)
    start = 0
    for end, r in enumerate(ordered):
        while r["mono"] - ordered[start]["mono"] >= 1.0:
            start += 1
        if end - start + 1 > best[1] - best[0]:
            best = (start, end + 1)
    window = ordered[best[0]:best[1]]
    t0 = window[0]["mono"] if window else 0.0
    when = [f"at {window[0]['at'] - since_wall:.2f}s of the run"] if window else []
    return when + [f"+{r['mono'] - t0:.3f}s {r['method']} {r['path']} {r['status']} {r.get('fault') or ''} "
            f"{r.get('lead') or ''}".rstrip() for r in window]


def updates_per_lead(update_log: Iterable[dict[str, Any]]) -> collections.Counter[str]:
    """Applied `/lead/data/update` calls per lead email, from the simulator's per-lead update journal."""
    return collections.Counter(str(u["email"]) for u in update_log)

