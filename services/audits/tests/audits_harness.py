"""Helpers of the audits service tests: the in-process harness, AuditRequested envelopes, expected profiles."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sites import Deployment, FakeResolver

from audits.bootstrap import AuditsService
from audits.domain.findings import NO_ISSUES, NOTHING_ELSE
from contracts import topics
from contracts.envelope import Envelope
from contracts.leads import AuditRequested
from contracts.topics import TopicSpec
from servicekit.messaging.events import decode, new_envelope
from servicekit.testing import publish_envelopes, read_topic

API_KEY = "audits-test-key"
OTHER_SCOPE_KEY = "leads-only-key"
PUBLIC_BASE = "http://127.0.0.1:8000"
AUDIT_TOPICS = [topics.AUDIT_REQUESTED, topics.AUDIT_STARTED, topics.AUDIT_COMPLETED, topics.AUDIT_FAILED]


@dataclass
class Harness:
    client: httpx.AsyncClient
    service: AuditsService
    site: Deployment
    resolver: FakeResolver
    bootstrap_servers: str
    prefix: str

    def topic(self, spec: TopicSpec) -> str:
        return f"{self.prefix}{spec.name}"

    async def request(self, *envelopes: Envelope) -> None:
        await publish_envelopes(self.bootstrap_servers, self.topic(topics.AUDIT_REQUESTED), list(envelopes))

    async def events(self, spec: TopicSpec, *, expected: int, timeout_s: float = 20.0) -> list[Envelope]:
        records = await read_topic(self.bootstrap_servers, self.topic(spec), expected=expected, timeout_s=timeout_s)
        return [decode(r.value).envelope for r in records]


def audit_requested(domain: str = "good.test", *, run_id: uuid.UUID | None = None,
                    lead_id: uuid.UUID | None = None, requested_at: datetime | None = None) -> Envelope:
    return new_envelope(AuditRequested(
        lead_id=lead_id or uuid.uuid4(), audit_run_id=run_id or uuid.uuid4(), domain=domain,
        requested_at=requested_at or datetime.now(UTC), requested_by="operator:tester",
    ))


HarnessFactory = Callable[..., Awaitable[Harness]]


def request_data(envelope: Envelope) -> AuditRequested:
    return AuditRequested.model_validate(envelope.data)


def expected_good_profile(**changes: str) -> dict[str, str]:
    """The good loopback site's 18-key profile (as in the engine tests), with `changes` applied."""
    profile = {
        "audit_grade": "A", "audit_score": "100", "audit_url": "", "audit_date": datetime.now(UTC).date().isoformat(),
        "top_issue": NO_ISSUES, "second_issue": NOTHING_ELSE, "issues_found": "0", "seo_score": "100",
        "performance_score": "100", "security_score": "100", "accessibility_score": "100", "mobile_ready": "yes",
        "load_time_s": "0.0", "https_status": "secure", "ssl_days_left": "400", "meta_description_status": "ok",
        "h1_status": "ok", "email_auth_status": "enforced",
    }
    profile.update(changes)
    return profile
