"""The poison corpus: bad records of every kind, mixed at ~1 % among valid records of one real topic.

Each poisoned topic has a `TopicPlan`: how to build a valid event for a lead, and how to break it. `build_stream`
returns the records in the order they are produced, each labelled with what must become of it:

- valid (plus two tolerated variants: no headers at all, and unknown fields added by a newer producer of the same
  major version) — applied exactly once by every group;
- `redelivery` — an exact copy of an earlier valid record (same id, same payload, same key): a duplicate, never
  applied twice and never parked;
- a poison kind — parked in the topic's DLQ exactly once by every group that consumes the topic.

The kinds and the rule each exercises (docs/ARCHITECTURE.md, Events and Delivery semantics):

| kind               | what the record is                                                       | parked because        |
|--------------------|--------------------------------------------------------------------------|-----------------------|
| not-json           | bytes that are no JSON at all                                            | decode: not JSON      |
| truncated-json     | the first half of a valid envelope                                       | decode: not JSON      |
| not-an-object      | a JSON array                                                             | decode: not an object |
| invalid-envelope   | an envelope whose `event_id` is no UUID and without `occurred_at`        | decode: envelope      |
| null-data          | a valid envelope with `"data": null`                                     | decode: envelope      |
| tombstone          | a null value (with the lead's key)                                       | decode: tombstone     |
| wrong-schema       | a valid envelope whose body fails the event model                        | decode: body          |
| unknown-type       | a valid envelope of an event type no registry knows                      | decode: unknown type  |
| future-major       | `event_version` 2 (the registry knows 1), body otherwise valid           | decode: future major  |
| other-topic-event  | a valid envelope of another topic's event type                           | decode: not expected  |
| invalid-utf8       | a valid envelope with bytes that are no UTF-8 inside a string            | decode: not JSON      |
| huge               | a schema-valid envelope of ~1.04 MB: over MAX_RECORD_BYTES, under the    | decode: size          |
|                    | broker's max.message.bytes (1,048,588)                                   |                       |
| at-broker-limit    | as big as a producer may send with the relay's headers (1,048,576 as     | decode: size          |
|                    | aiokafka measures it): its parked copy cannot also carry the dead-letter |                       |
|                    | headers, so it is parked without its own headers or with its value cut   |                       |
| bad-headers        | a valid envelope whose `event_id`/`ce_id` headers name another event     | record check: headers |
| wrong-key          | a valid envelope keyed by another lead                                   | record check: key     |
| missing-key        | a valid envelope with no key (only where the topic is not compacted:     | record check: key     |
|                    | the broker refuses keyless records on a compacted topic)                 |                       |
| conflicting-id     | the event id of an earlier valid record with another payload, same key   | inbox: ConflictingPayload |
| nul-in-text        | a valid envelope with a NUL character in a text the service stores       | handler: the database refuses it |
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from contracts.audits import AuditCompleted
from contracts.common import AuditProfile, CategoryScores, Contact, LeadSnapshot
from contracts.envelope import MAX_RECORD_BYTES, EventData
from contracts.leads import LeadUpserted
from contracts.status import LeadStatus
from contracts.topics import AUDIT_COMPLETED, LEAD_UPSERTED, TopicSpec
from servicekit.messaging.events import encode, headers_for, kafka_headers, new_envelope

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
POISON_RATE = 0.01
HUGE_BYTES = MAX_RECORD_BYTES + 40_000  # the record value; key, headers and batch overhead stay under 1,048,588
PRODUCER_LIMIT = 1_048_576  # aiokafka's default max_request_size, what its producer measures a record against
UTF8_MARKER = "UTF8-MARKER-TO-BREAK"

Headers = list[tuple[str, bytes]]

PROFILE: dict[str, str] = {
    "audit_grade": "C", "audit_score": "72", "audit_url": "https://reports.test/r/abc123", "audit_date": "2026-11-01",
    "top_issue": "Visitors see a 'Not secure' warning", "second_issue": "Pages load slowly on phones",
    "issues_found": "7", "seo_score": "70", "performance_score": "60", "security_score": "50",
    "accessibility_score": "80", "mobile_ready": "yes", "load_time_s": "2.3", "https_status": "no_redirect",
    "ssl_days_left": "40", "meta_description_status": "missing", "h1_status": "ok", "email_auth_status": "partial",
}


def audit_completed(lead_id: uuid.UUID, *, summary: str = "A mixed result.") -> AuditCompleted:
    return AuditCompleted(
        lead_id=lead_id, audit_run_id=uuid.uuid4(), domain="acme.test", requested_at=T0,
        completed_at=T0 + timedelta(seconds=5), grade="C", score=72,
        category_scores=CategoryScores(seo=70, performance=60, security=50, mobile=100, accessibility=80),
        top_issue=PROFILE["top_issue"], second_issue=PROFILE["second_issue"], summary=summary,
        report_url=PROFILE["audit_url"], profile=AuditProfile(**PROFILE),
    )


def lead_upserted(lead_id: uuid.UUID, *, company: str = "Acme") -> LeadUpserted:
    snapshot = LeadSnapshot(lead_id=lead_id, version=1, company_name=company, domain="acme.test",
                            contact=Contact(first_name="Jo", email=f"{lead_id.hex[:12]}@poison.test"),
                            status=LeadStatus.NEW, created_at=T0, updated_at=T0)
    return LeadUpserted(lead_id=lead_id, lead=snapshot)


@dataclass(frozen=True)
class Rec:
    """One record to produce, and what must become of it."""

    label: str  # "valid", "valid:no-headers", "valid:additive", "redelivery" or a poison kind
    key: bytes | None
    value: bytes | None
    headers: Headers
    lead_id: uuid.UUID | None = None  # valid: the lead whose effect must exist; poison: whose must not
    error_class: str = ""  # poison: the DLQ's dlq_error_class
    event_id: uuid.UUID | None = None

    @property
    def poison(self) -> bool:
        return not (self.label.startswith("valid") or self.label == "redelivery")


@dataclass(frozen=True)
class TopicPlan:
    """A poisoned topic: its valid events, how to break one, and the groups of the real services consuming it."""

    spec: TopicSpec
    groups: tuple[str, ...]  # without the test's prefix, e.g. "writeback.on_audit_completed"
    valid: Callable[[uuid.UUID], EventData]
    other_topic_event: Callable[[uuid.UUID], EventData]
    break_body: Callable[[dict[str, Any]], None]  # makes the body fail the event model
    nul_in_text: Callable[[dict[str, Any]], None]  # a NUL in a text the consumers store
    marker_body: Callable[[uuid.UUID], EventData]  # a valid event carrying UTF8_MARKER in a string
    pad_body: Callable[[dict[str, Any], int], None]  # grows a free-text field by n characters
    conflict: Callable[[dict[str, Any]], None]  # another payload for the same event id
    # Groups that store nothing for the test's leads (they are not leads of that service): a NUL in a text is no
    # poison to them (the event is handled and changes nothing), so they apply "nul-in-text" instead of parking it.
    stores_nothing: tuple[str, ...] = ()

    @property
    def compacted(self) -> bool:
        return self.spec.compacted


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        node = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return apply


def _pad(path: tuple[str, ...]) -> Callable[[dict[str, Any], int], None]:
    def apply(data: dict[str, Any], n: int) -> None:
        node = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = str(node[path[-1]]) + "x" * n

    return apply


AUDIT_COMPLETED_PLAN = TopicPlan(
    spec=AUDIT_COMPLETED,
    groups=("writeback.on_audit_completed", "leads.on_audit_completed"),
    stores_nothing=("leads.on_audit_completed",),
    valid=audit_completed,
    other_topic_event=lead_upserted,
    break_body=_set(("score",), 500),
    nul_in_text=_set(("profile", "top_issue"), "Not\u0000secure"),
    marker_body=lambda lead: audit_completed(lead, summary=UTF8_MARKER),
    pad_body=_pad(("summary",)),
    conflict=_set(("audit_run_id",), str(uuid.UUID(int=7))),
)

LEAD_UPSERTED_PLAN = TopicPlan(
    spec=LEAD_UPSERTED,
    groups=("writeback.on_lead_upserted", "unibox.on_lead_upserted"),
    valid=lead_upserted,
    other_topic_event=audit_completed,
    break_body=_set(("lead", "version"), 0),
    nul_in_text=_set(("lead", "contact", "email"), "nul\u0000@poison.test"),
    marker_body=lambda lead: lead_upserted(lead, company=UTF8_MARKER),
    pad_body=_pad(("lead", "notes")),
    conflict=_set(("lead", "contact", "email"), "conflicting@poison.test"),
)


def _record(data: EventData, *, mutate: Callable[[dict[str, Any]], None] | None = None,
            envelope_extra: dict[str, Any] | None = None) -> tuple[bytes, bytes, Headers, uuid.UUID, uuid.UUID]:
    """(key, value, relay-like headers, lead id, event id) of a fresh envelope, optionally mutated as JSON."""
    env = new_envelope(data)
    assert env.lead_id is not None
    value = encode(env)
    if mutate is not None or envelope_extra:
        raw = json.loads(value)
        if mutate is not None:
            mutate(raw["data"])
        raw.update(envelope_extra or {})
        value = json.dumps(raw).encode()
    return str(env.lead_id).encode(), value, kafka_headers(headers_for(env)), env.lead_id, env.event_id


def _grown(plan: TopicPlan, n: int) -> Callable[[dict[str, Any]], None]:
    return lambda data: plan.pad_body(data, n)


def record_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """A record's size as the producer checks it against max_request_size."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers)))


def parked_kinds(plan: TopicPlan, group: str) -> list[str]:
    """The poison kinds `group` parks: all of them, but a NUL in a text for a group that stores nothing here."""
    return [k for k in poison_kinds(plan) if not (k == "nul-in-text" and group in plan.stores_nothing)]


def poison_kinds(plan: TopicPlan) -> list[str]:
    kinds = ["not-json", "truncated-json", "not-an-object", "invalid-envelope", "null-data", "tombstone",
             "wrong-schema", "unknown-type", "future-major", "other-topic-event", "invalid-utf8", "huge",
             "at-broker-limit", "bad-headers", "wrong-key", "missing-key", "conflicting-id", "nul-in-text"]
    return [k for k in kinds if not (k == "missing-key" and plan.compacted)]


# What the DLQ's `dlq_error` says for each kind (a part of it): the record was parked for the right reason.
REASONS: dict[str, str] = {
    "not-json": "not JSON", "truncated-json": "not JSON", "not-an-object": "not a JSON object",
    "invalid-envelope": "invalid envelope", "null-data": "invalid envelope", "tombstone": "tombstone",
    "wrong-schema": "body", "unknown-type": "unknown event_type", "future-major": "future major version",
    "other-topic-event": "not expected on this topic", "invalid-utf8": "not JSON: invalid unicode",
    "huge": "over the 1,000,000-byte limit", "at-broker-limit": "over the 1,000,000-byte limit", "bad-headers": "header event_id=", "wrong-key": "must be its lead id",
    "missing-key": "no key on an event", "conflicting-id": "event_id reused with a different payload",
    "nul-in-text": "(sqlalchemy.dialects.postgresql.asyncpg.Error)",
}


def _poison(kind: str, plan: TopicPlan, original: Rec) -> Rec:
    """One poison record of `kind` (a fresh lead unless it reuses `original`, an earlier valid record)."""
    lead = uuid.uuid4()
    key = str(lead).encode()
    if kind == "not-json":
        return Rec(kind, key, b"\x00\x01 this is not JSON {", [], lead, "PoisonMessage")
    if kind == "truncated-json":
        k, value, headers, lead, eid = _record(plan.valid(lead))
        return Rec(kind, k, value[: len(value) // 2], headers, lead, "PoisonMessage", eid)
    if kind == "not-an-object":
        return Rec(kind, key, json.dumps([plan.spec.event_type, str(lead)]).encode(), [], lead, "PoisonMessage")
    if kind == "invalid-envelope":
        k, value, headers, lead, _ = _record(plan.valid(lead))
        raw = json.loads(value)
        raw["event_id"] = "not-a-uuid"
        del raw["occurred_at"]
        return Rec(kind, k, json.dumps(raw).encode(), [], lead, "PoisonMessage")
    if kind == "null-data":
        k, value, headers, lead, eid = _record(plan.valid(lead))
        raw = json.loads(value)
        raw["data"] = None
        return Rec(kind, k, json.dumps(raw).encode(), headers, lead, "PoisonMessage", eid)
    if kind == "tombstone":
        return Rec(kind, key, None, [], lead, "PoisonMessage")
    if kind == "wrong-schema":
        k, value, headers, lead, eid = _record(plan.valid(lead), mutate=plan.break_body)
        return Rec(kind, k, value, headers, lead, "PoisonMessage", eid)
    if kind == "unknown-type":
        k, value, headers, lead, eid = _record(plan.valid(lead), envelope_extra={"event_type": "LeadTeleported"})
        return Rec(kind, k, value, [], lead, "PoisonMessage", eid)
    if kind == "future-major":
        k, value, headers, lead, eid = _record(plan.valid(lead), envelope_extra={"event_version": 2})
        headers = [(n, b"2" if n == "event_version" else v) for n, v in headers]
        return Rec(kind, k, value, headers, lead, "PoisonMessage", eid)
    if kind == "other-topic-event":
        k, value, headers, lead, eid = _record(plan.other_topic_event(lead))
        return Rec(kind, k, value, headers, lead, "PoisonMessage", eid)
    if kind == "invalid-utf8":
        k, value, headers, lead, eid = _record(plan.marker_body(lead))
        assert UTF8_MARKER.encode() in value
        return Rec(kind, k, value.replace(UTF8_MARKER.encode(), b"caf\xe9 \xff\xfe"), headers, lead, "PoisonMessage",
                   eid)
    if kind == "huge":
        k, value, headers, lead, eid = _record(plan.valid(lead))
        k, value, headers, lead, eid = _record(plan.valid(lead),
                                               mutate=lambda data: plan.pad_body(data, HUGE_BYTES - len(value)))
        assert len(value) > MAX_RECORD_BYTES
        return Rec(kind, k, value, headers, lead, "PoisonMessage", eid)
    if kind == "at-broker-limit":
        event = plan.valid(lead)
        pad = 0
        for _ in range(3):  # sized as the producer measures it; the value's length varint grows with the padding
            k, value, headers, lead, eid = _record(event, mutate=_grown(plan, pad))
            pad += PRODUCER_LIMIT - 4 - record_size(k, value, headers)
        assert PRODUCER_LIMIT - 8 <= record_size(k, value, headers) <= PRODUCER_LIMIT
        return Rec(kind, k, value, headers, lead, "PoisonMessage", eid)
    if kind == "bad-headers":
        k, value, headers, lead, eid = _record(plan.valid(lead))
        other = str(uuid.uuid4()).encode()
        headers = [(n, other if n in ("event_id", "ce_id") else v) for n, v in headers]
        return Rec(kind, k, value, headers, lead, "PoisonMessage", eid)
    if kind == "wrong-key":
        _, value, headers, lead, eid = _record(plan.valid(lead))
        return Rec(kind, str(uuid.uuid4()).encode(), value, headers, lead, "PoisonMessage", eid)
    if kind == "missing-key":
        _, value, headers, lead, eid = _record(plan.valid(lead))
        return Rec(kind, None, value, headers, lead, "PoisonMessage", eid)
    if kind == "conflicting-id":
        assert original.value is not None
        raw = json.loads(original.value)
        plan.conflict(raw["data"])
        return Rec(kind, original.key, json.dumps(raw).encode(), original.headers, original.lead_id,
                   "ConflictingPayload", original.event_id)
    if kind == "nul-in-text":
        k, value, headers, lead, eid = _record(plan.valid(lead), mutate=plan.nul_in_text)
        return Rec(kind, k, value, headers, lead, "DBAPIError", eid)
    raise ValueError(kind)


@dataclass
class Stream:
    plan: TopicPlan
    records: list[Rec] = field(default_factory=list)

    @property
    def valid(self) -> list[Rec]:
        return [r for r in self.records if r.label.startswith("valid")]

    @property
    def poison(self) -> list[Rec]:
        return [r for r in self.records if r.poison]

    @property
    def redeliveries(self) -> list[Rec]:
        return [r for r in self.records if r.label == "redelivery"]


def build_stream(plan: TopicPlan, valid_count: int, rng: random.Random) -> Stream:
    """`valid_count` valid records (~1 % of them without headers and ~1 % with additive fields), ~0.5 % exact
    redeliveries, and poison at POISON_RATE of the valid count — at least one of every kind — at random places;
    a conflicting id and a redelivery always come after their original (same key: the same partition)."""
    valid: list[Rec] = []
    for i in range(valid_count):
        variant = i % 100
        if variant == 1:
            k, v, _, lead, eid = _record(plan.valid(uuid.uuid4()))
            valid.append(Rec("valid:no-headers", k, v, [], lead, event_id=eid))
        elif variant == 2:
            k, v, h, lead, eid = _record(plan.valid(uuid.uuid4()), mutate=_set(("added_in_a_minor",), {"x": [1]}),
                                         envelope_extra={"new_envelope_field": True})
            valid.append(Rec("valid:additive", k, v, h, lead, event_id=eid))
        else:
            k, v, h, lead, eid = _record(plan.valid(uuid.uuid4()))
            valid.append(Rec("valid", k, v, h, lead, event_id=eid))
    stream: list[Rec] = list(valid)
    kinds = poison_kinds(plan)
    count = max(len(kinds), round(valid_count * POISON_RATE))
    late: list[tuple[int, Rec]] = []  # (index of the original in `valid`, the record that must follow it)
    for n in range(count):
        kind = kinds[n % len(kinds)]
        anchor = rng.randrange(valid_count)
        rec = _poison(kind, plan, valid[anchor])
        if kind == "conflicting-id":
            late.append((anchor, rec))
        else:
            stream.insert(rng.randrange(len(stream) + 1), rec)
    for _ in range(max(1, valid_count // 200)):
        anchor = rng.randrange(valid_count)
        original = valid[anchor]
        late.append((anchor, Rec("redelivery", original.key, original.value, original.headers, original.lead_id,
                                 event_id=original.event_id)))
    for anchor, rec in late:
        at = stream.index(valid[anchor])
        stream.insert(rng.randrange(at + 1, len(stream) + 1), rec)
    return Stream(plan, stream)
