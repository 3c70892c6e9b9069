"""A small running system for the dashboard's browser tests, all on loopback in this process: the dashboard,
the leads API (embedded consumers + relay, real PostgreSQL + Kafka), the unibox API, the PlusVibe simulator, a
stub of GET /api/audits/{id} (so a test can put a run in any state: running, failed, completed) and the
launcher's entry point (gateway) that routes /api/... by prefix. Each server runs under uvicorn in its own
thread, so sync Playwright can drive the browser from the test's thread.

The events the audits and writeback services would emit are published by the tests on the real broker; the
whole system with the real services is driven by ../dashboard_full."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from contracts.audits import AuditCompleted
from contracts.common import AuditProfile, CategoryScores
from contracts.envelope import Envelope
from contracts.topics import ALL_TOPICS, AUDIT_COMPLETED, WRITEBACK_COMPLETED, TopicSpec
from contracts.writeback import WritebackCompleted
from copywriter import LeadFacts, Tone, body_variables
from dashboard.app import create_app as create_dashboard
from leads.bootstrap import LeadsService
from leads.bootstrap import bootstrap as bootstrap_leads
from leads.entrypoints.http import create_app as create_leads
from leads.handlers.check_campaign_templates import CheckReport, check_campaign_templates
from leads.settings import LeadsSettings
from outreach_local.gateway import create_gateway
from outreach_ops.topic_admin import ensure_topics
from plusvibe.credentials import new_kek
from plusvibe.limits import reset_registry
from plusvibe.simulator.state import SimulatorState
from plusvibe.testing import FAST_RATE, Sim, free_port, running_simulator
from servicekit.messaging.events import new_envelope
from servicekit.process.db import drop_schema, ensure_schema
from servicekit.testing import new_topic_prefix, publish_envelopes
from servicekit.web.auth import hash_key
from unibox.bootstrap import bootstrap as bootstrap_unibox
from unibox.entrypoints.http import create_app as create_unibox
from unibox.settings import UniboxSettings

T = TypeVar("T")
API_KEY = "dashboard-browser-test-key"
# The second platform workspace this system serves (the workspace switcher's tests); not connected to PlusVibe.
SECOND_WORKSPACE = "acme"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine to completion in a worker thread: sync Playwright keeps an event loop running on the
    test's own thread, where `asyncio.run` is refused."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


@contextlib.contextmanager
def serving(app: Any, name: str, *, startup_timeout_s: float = 30.0,
            loops: list[asyncio.AbstractEventLoop] | None = None) -> Iterator[str]:
    """Serves an ASGI app on a free loopback port in a thread; yields its base URL; stops it on exit. The server's
    event loop is appended to `loops` when given (its engine and clients live on that loop)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name=f"{name}-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.02)
    if loops is not None:
        loops.append(server.servers[0].get_loop())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@dataclass
class AuditsStub:
    """Stands in for GET /api/audits/{id}: serves the runs a test puts here (any state, on demand)."""

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/api/audits/{run_id}")
        async def get_run(run_id: str) -> JSONResponse:
            run = self.runs.get(run_id)
            if run is None:
                return JSONResponse({"reason": "audit_not_found", "message": "No audit run with that id."}, 404)
            return JSONResponse(run)

        return app


@dataclass
class System:
    url: str  # the entry point: the browser and the tests use only this
    bootstrap_servers: str
    prefix: str
    sim: Sim
    audits: AuditsStub
    http: httpx.Client
    postgres_url: str
    leads_schema: str
    leads_service: LeadsService
    leads_loop: asyncio.AbstractEventLoop

    def topic(self, spec: TopicSpec) -> str:
        return f"{self.prefix}{spec.name}"

    def publish(self, spec: TopicSpec, *envelopes: Envelope) -> None:
        run_async(publish_envelopes(self.bootstrap_servers, self.topic(spec), list(envelopes)))

    def create_lead(self, *, workspace: str | None = None, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "companyName": "Acme Bakery", "domain": "acme-bakery.test",
            "contact": {"firstName": "Ada", "lastName": "Baker", "email": f"ada+{uuid.uuid4().hex[:8]}@acme.test"}}
        body.update(overrides)
        r = self.http.post("/api/leads", json=body, headers={"X-Workspace": workspace} if workspace else None)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def lead(self, lead_id: str) -> dict[str, Any]:
        r = self.http.get(f"/api/leads/{lead_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def complete_audit(self, lead_id: str, *, grade: str = "C", steps: int = 3) -> str:
        """What the audits and writeback services do after Start audit: AuditCompleted, then WritebackCompleted."""
        lead = self.lead(lead_id)
        run_id = lead["audit"]["auditRunId"]
        requested_at = datetime.fromisoformat(lead["audit"]["requestedAt"].replace("Z", "+00:00"))
        self.publish(AUDIT_COMPLETED, audit_completed(lead_id, run_id, requested_at, grade=grade))
        self.publish(WRITEBACK_COMPLETED, writeback_completed(lead_id, run_id, requested_at, steps=steps))
        return str(run_id)

    def check_campaign_templates(self) -> CheckReport:
        """One pass of the leads service's periodic template check, run on the leads server's own event loop."""
        svc = self.leads_service

        async def check() -> CheckReport:
            return await check_campaign_templates(svc.runtime.uow, svc.campaigns,
                                                  configured_storage=svc.settings.plusvibe_custom_storage,
                                                  workspace_id=await svc.plusvibe_workspace_id())

        return asyncio.run_coroutine_threadsafe(check(), self.leads_loop).result(timeout=30)

    def force_legacy_sent(self, lead_id: str) -> None:
        """Rows from before the migration can still hold the deprecated `sent`; the API never writes it."""
        run_async(_set_column(self.postgres_url, self.leads_schema, lead_id, "status", "sent"))

    def force_campaign(self, lead_id: str, campaign_id: str) -> None:
        """A lead linked to a PlusVibe campaign without a push (the guard's conditions are another test's)."""
        run_async(_set_column(self.postgres_url, self.leads_schema, lead_id, "campaign_id", campaign_id))

    def publish_writeback(self, lead_id: str, *, delivered: bool) -> None:
        lead = self.lead(lead_id)
        run_id = lead["audit"]["auditRunId"]
        requested_at = datetime.fromisoformat(lead["audit"]["requestedAt"].replace("Z", "+00:00"))
        self.publish(WRITEBACK_COMPLETED, writeback_completed(lead_id, run_id, requested_at, delivered=delivered))


def profile(run_id: uuid.UUID, grade: str) -> AuditProfile:
    return AuditProfile(
        audit_grade=grade, audit_score="72", audit_url=f"https://reports.test/r/{run_id.hex}", audit_date="2026-11-28",
        top_issue="Visitors see a 'Not secure' warning", second_issue="Search results show no description",
        issues_found="7", seo_score="70", performance_score="80", security_score="55", accessibility_score="90",
        mobile_ready="yes", load_time_s="1.4", https_status="no_redirect", ssl_days_left="60",
        meta_description_status="missing", h1_status="ok", email_auth_status="partial",
    )


def audit_completed(lead_id: str, run_id: str, requested_at: datetime, *, grade: str) -> Envelope:
    rid = uuid.UUID(run_id)
    return new_envelope(AuditCompleted(
        lead_id=uuid.UUID(lead_id), audit_run_id=rid, domain="acme-bakery.test", requested_at=requested_at,
        completed_at=datetime.now(UTC), grade=grade, score=72,
        category_scores=CategoryScores(seo=70, performance=80, security=55, mobile=100, accessibility=90),
        top_issue="Visitors see a 'Not secure' warning", second_issue="Search results show no description",
        summary="Grade C: fix https first, then add meta descriptions.", report_url=f"/r/{rid.hex}",
        profile=profile(rid, grade),
    ))


def writeback_completed(lead_id: str, run_id: str, requested_at: datetime, *, steps: int = 3,
                        delivered: bool = False) -> Envelope:
    prof = profile(uuid.UUID(run_id), "C").model_dump()
    body = body_variables(LeadFacts(company_name="Acme Bakery", domain="acme-bakery.test", first_name="Ada"), prof,
                          tone=Tone.CONSULTATIVE, steps=steps)
    return new_envelope(WritebackCompleted(
        lead_id=uuid.UUID(lead_id), audit_run_id=uuid.UUID(run_id), audit_requested_at=requested_at,
        variables={**prof, **body}, delivered=delivered, campaign_id=None, steps=steps,
        completed_at=datetime.now(UTC),
    ))


@contextlib.contextmanager
def running_system(postgres_url: str, kafka_bootstrap: str) -> Iterator[System]:
    """Starts everything (see the module docstring) and yields the entry point's URL and helpers."""
    prefix = new_topic_prefix("d")
    leads_schema, unibox_schema = f"d_leads_{uuid.uuid4().hex[:8]}", f"d_unibox_{uuid.uuid4().hex[:8]}"
    run_async(_prepare(postgres_url, kafka_bootstrap, prefix, leads_schema, unibox_schema))
    keys = json.dumps([{"name": "operator", "sha256": hash_key(API_KEY), "scopes": ["*"]}])
    audits = AuditsStub()
    try:
        with running_simulator(SimulatorState(api_key="sim-key-dashboard"), seed=None) as (sim_url, state):
            reset_registry()
            state.rate_limit_per_s = FAST_RATE
            seeded = state.seed("demo")
            sim = Sim(sim_url, state, seeded["workspace_id"], seeded["campaigns"])
            pv = sim.settings(kek=SecretStr(new_kek()))  # the KEK lets Integrations store a connected key
            common: dict[str, Any] = {"database_url": postgres_url, "kafka_bootstrap_servers": kafka_bootstrap,
                                      "kafka_topic_prefix": prefix, "consumer_transient_budget_s": 5,
                                      "api_keys_json": keys, "log_json": False, "log_level": "WARNING",
                                      "workspaces": f"default,{SECOND_WORKSPACE}"}
            leads_service = bootstrap_leads(LeadsSettings(db_schema=leads_schema, plusvibe_custom_storage="verbatim",
                                                          **common), plusvibe_settings=pv)
            leads = create_leads(service=leads_service, embedded_workers=True)
            leads_loop: list[asyncio.AbstractEventLoop] = []
            unibox = create_unibox(service=bootstrap_unibox(UniboxSettings(db_schema=unibox_schema, **common),
                                                            plusvibe_settings=pv), embedded_workers=True)
            with serving(leads, "leads", loops=leads_loop) as leads_url, serving(unibox, "unibox") as unibox_url, \
                    serving(create_dashboard(), "dashboard") as dashboard_url, \
                    serving(audits.app(), "audits-stub") as audits_url:
                gateway = create_gateway({"leads": leads_url, "unibox": unibox_url, "dashboard": dashboard_url,
                                          "audits": audits_url})
                with serving(gateway, "gateway") as url, httpx.Client(
                        base_url=url, headers={"X-API-Key": API_KEY}, timeout=15, trust_env=False) as http:
                    yield System(url, kafka_bootstrap, prefix, sim, audits, http, postgres_url, leads_schema,
                                 leads_service, leads_loop[0])
    finally:
        run_async(_drop(postgres_url, leads_schema, unibox_schema))


async def _prepare(postgres_url: str, kafka: str, prefix: str, *schemas: str) -> None:
    await ensure_topics(kafka, ALL_TOPICS, prefix=prefix)
    for schema in schemas:
        await ensure_schema(postgres_url, schema)


async def _set_column(postgres_url: str, schema: str, lead_id: str, column: str, value: str) -> None:
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'UPDATE "{schema}".leads SET {column} = :v WHERE id = :id'),
                               {"v": value, "id": uuid.UUID(lead_id)})
    finally:
        await engine.dispose()


async def _drop(postgres_url: str, *schemas: str) -> None:
    for schema in schemas:
        await drop_schema(postgres_url, schema)


def full_page_screenshot(page: Any, path: Path) -> None:
    """Grows the viewport to the whole page first: Chromium does not paint sandboxed (opaque-origin) iframes
    that lie outside the viewport into a `full_page` capture."""
    size = page.viewport_size
    height = int(page.evaluate("document.documentElement.scrollHeight"))
    page.set_viewport_size({"width": size["width"], "height": height})
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def connect_on_integrations_page(page: Any, key: str, plusvibe_workspace_id: str) -> None:
    """The operator's connect on the Integrations page: the key, Find workspaces, one picked, Connect."""
    page.get_by_label("PlusVibe API key").fill(key)
    page.get_by_role("button", name="Find workspaces").click()
    expect(page.get_by_label("PlusVibe workspace")).to_be_enabled()
    page.get_by_label("PlusVibe workspace").select_option(plusvibe_workspace_id)
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.locator("#pv-state")).to_have_text("Connected here")


def settle_then_click(page: Any, locator: Any) -> None:
    """Scrolls first and lets two frames pass before clicking. Chromium puts sandboxed (opaque-origin) iframes in
    their own process and routes a click by the compositor's hit-test data, which lags a programmatic scroll:
    a click right after Playwright's own scroll can land in a Unibox message frame that was there a frame ago.
    A person scrolling and then clicking never hits this.

    The lead page re-renders its action panel when a live update arrives, so the element found for the scroll
    can be replaced while Playwright scrolls it ("not attached to the DOM"); the locator is resolved again then."""
    for attempt in range(5):
        try:
            locator.scroll_into_view_if_needed()
            break
        except PlaywrightError as error:
            if "not attached" not in str(error) or attempt == 4:
                raise
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    locator.click()
