"""Shared helpers of the leads tests: the in-process harness and event builders."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from contracts.audits import AuditCompleted
from contracts.common import AuditProfile, CategoryScores
from contracts.envelope import Envelope
from contracts.topics import ALL_TOPICS, TopicSpec
from contracts.writeback import WritebackCompleted
from copywriter import LeadFacts, Tone, body_variables
from leads.bootstrap import LeadsService, bootstrap
from leads.entrypoints.http import create_app
from leads.settings import LeadsSettings
from outreach_ops.topic_admin import ensure_topics
from plusvibe.credentials import new_kek
from plusvibe.simulator.state import SimulatorState
from plusvibe.testing import Sim, fresh_sim, running_simulator
from servicekit.messaging.events import new_envelope
from servicekit.testing import Database, new_topic_prefix, publish_envelopes
from servicekit.web.auth import hash_key

API_KEY = "leads-test-key"
# The second served workspace of the two-workspace harness, and its key (`API_KEY` reaches only `default` there).
ACME = "acme"
ACME_KEY = "leads-test-key-acme"


@pytest.fixture(scope="module")
def module_topic_prefix() -> str:
    return new_topic_prefix("l")


@pytest.fixture(scope="module")
def sim_server() -> Iterator[tuple[str, SimulatorState]]:
    with running_simulator(SimulatorState(api_key="sim-key-leads"), seed=None) as running:
        yield running


@pytest.fixture
def sim(sim_server: tuple[str, SimulatorState]) -> Sim:
    return fresh_sim(sim_server)


@dataclass
class Harness:
    client: httpx.AsyncClient
    service: LeadsService
    bootstrap_servers: str
    prefix: str
    sim: Sim

    def topic(self, spec: TopicSpec) -> str:
        return f"{self.prefix}{spec.name}"

    async def publish(self, spec: TopicSpec, *envelopes: Envelope) -> None:
        await publish_envelopes(self.bootstrap_servers, self.topic(spec), list(envelopes))

    async def create_lead(self, **overrides: Any) -> dict[str, Any]:
        body = {"companyName": "Acme Bakery", "domain": "acme-bakery.test",
                "contact": {"firstName": "Ada", "lastName": "Baker", "email": f"ada+{uuid.uuid4().hex[:6]}@acme.test"}}
        body.update(overrides)
        r = await self.client.post("/api/leads", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def lead(self, lead_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/api/leads/{lead_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())


def _settings(pg_database: Database, kafka_bootstrap: str, prefix: str, **overrides: Any) -> LeadsSettings:
    return LeadsSettings(
        database_url=pg_database.url, db_schema=pg_database.schema, kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=prefix, consumer_transient_budget_s=5,
        api_keys_json=json.dumps([{"name": "tester", "sha256": hash_key(API_KEY), "scopes": ["*"]}]),
        # Readers here poll the API in tight loops with one key, far beyond 100/s; the inbound rate limit is
        # tested in libs/kit/tests/unit/test_kit_rate_limit.py and tests/api/test_api_rate_limit.py.
        rate_limit_per_s=0,
        # The simulator stores custom variables verbatim; detection of the rule is tested on its own.
        plusvibe_custom_storage="verbatim",
        # Some tests read the outbox as the record of what leads published: the relay keeps published rows
        # (marked sent) instead of deleting them. Its default is tested in libs/kit (relay SIGKILLs, failed sends)
        # and runs in the e2e flows, the PgBouncer and the runtime-role tests.
        **{"outbox_keep_sent_s": 86_400, **overrides},
    )


@pytest.fixture
async def harness(pg_database: Database, kafka_bootstrap: str, module_topic_prefix: str, sim: Sim
                  ) -> AsyncIterator[Harness]:
    await ensure_topics(kafka_bootstrap, ALL_TOPICS, prefix=module_topic_prefix)
    settings = _settings(pg_database, kafka_bootstrap, module_topic_prefix)
    service = bootstrap(settings, plusvibe_settings=sim.settings())
    app = create_app(service=service, embedded_workers=True)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://leads", headers={"X-API-Key": API_KEY}
    ) as client:
        yield Harness(client, service, kafka_bootstrap, module_topic_prefix, sim)


@dataclass
class TwoWorkspaces:
    """One leads service serving `default` and `acme`, a client (and key) for each: `default` keeps the
    environment's PlusVibe key (the simulator's demo workspace), `acme` calls PlusVibe only once connected."""

    default: Harness
    acme: Harness
    app: FastAPI

    @property
    def service(self) -> LeadsService:
        return self.default.service


@pytest.fixture
async def two_workspaces(pg_database: Database, kafka_bootstrap: str, module_topic_prefix: str, sim: Sim
                         ) -> AsyncIterator[TwoWorkspaces]:
    await ensure_topics(kafka_bootstrap, ALL_TOPICS, prefix=module_topic_prefix)
    keys = [{"name": "default-operator", "sha256": hash_key(API_KEY), "scopes": ["*"], "workspaces": ["default"]},
            {"name": "acme-operator", "sha256": hash_key(ACME_KEY), "scopes": ["*"], "workspaces": [ACME]}]
    settings = _settings(pg_database, kafka_bootstrap, module_topic_prefix, workspaces=f"default,{ACME}")
    settings = settings.model_copy(update={"api_keys_json": json.dumps(keys)})
    service = bootstrap(settings, plusvibe_settings=sim.settings(kek=SecretStr(new_kek())))
    app = create_app(service=service, embedded_workers=True)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=transport, base_url="http://leads", headers={"X-API-Key": API_KEY, "X-Workspace": "default"}
    ) as default, httpx.AsyncClient(
        transport=transport, base_url="http://leads", headers={"X-API-Key": ACME_KEY, "X-Workspace": ACME}
    ) as acme:
        yield TwoWorkspaces(Harness(default, service, kafka_bootstrap, module_topic_prefix, sim),
                            Harness(acme, service, kafka_bootstrap, module_topic_prefix, sim), app)


def profile(run_id: uuid.UUID, **overrides: str) -> AuditProfile:
    values = {
        "audit_grade": "C", "audit_score": "72", "audit_url": f"https://reports.test/r/{run_id.hex}",
        "audit_date": "2026-11-28", "top_issue": "Visitors see a 'Not secure' warning",
        "second_issue": "Search results show no description", "issues_found": "7", "seo_score": "70",
        "performance_score": "80", "security_score": "55", "accessibility_score": "90", "mobile_ready": "yes",
        "load_time_s": "1.4", "https_status": "no_redirect", "ssl_days_left": "60",
        "meta_description_status": "missing", "h1_status": "ok", "email_auth_status": "partial",
    }
    values.update(overrides)
    return AuditProfile(**values)


def audit_completed(lead_id: str, run_id: str, requested_at: datetime, *, grade: str = "C") -> Envelope:
    rid = uuid.UUID(run_id)
    return new_envelope(AuditCompleted(
        lead_id=uuid.UUID(lead_id), audit_run_id=rid, domain="acme-bakery.test", requested_at=requested_at,
        completed_at=datetime.now(UTC), grade=grade, score=72,
        category_scores=CategoryScores(seo=70, performance=80, security=55, mobile=100, accessibility=90),
        top_issue="Visitors see a 'Not secure' warning", second_issue="Search results show no description",
        summary="Grade C: fix https first.", report_url=f"https://reports.test/r/{rid.hex}",
        profile=profile(rid, audit_grade=grade),
    ))


def writeback_variables(run_id: str, steps: int = 3) -> dict[str, str]:
    prof = profile(uuid.UUID(run_id)).model_dump()
    body = body_variables(LeadFacts(company_name="Acme Bakery", domain="acme-bakery.test", first_name="Ada"), prof,
                          tone=Tone.CONSULTATIVE, steps=steps)
    return {**prof, **body}


def writeback_completed(lead_id: str, run_id: str, requested_at: datetime, *, steps: int = 3,
                        delivered: bool = False, variables: dict[str, str] | None = None) -> Envelope:
    return new_envelope(WritebackCompleted(
        lead_id=uuid.UUID(lead_id), audit_run_id=uuid.UUID(run_id), audit_requested_at=requested_at,
        variables=variables or writeback_variables(run_id, steps), delivered=delivered, campaign_id=None, steps=steps,
        completed_at=datetime.now(UTC),
    ))


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def earlier(value: datetime, seconds: float = 60) -> datetime:
    return value - timedelta(seconds=seconds)
