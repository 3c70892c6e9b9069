"""The audit worker on SQLite: idempotent queueing, leases, take-over of runs whose worker died, and the
attempt limit (no broker: events are checked in the outbox)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sites import Deploy, Deployment, FakeResolver, Reply
from sqlalchemy import select, update

from audits.adapters.orm import AuditRunRow
from audits.bootstrap import AuditsService, bootstrap
from audits.engine import Ports
from audits.handlers.on_audit_requested import new_report_slug
from audits.settings import AuditsSettings
from contracts.integrations import DEFAULT_WORKSPACE
from servicekit.process.tables import outbox
from servicekit.testing import Database


async def _service(db: Database, site: Deployment, resolver: FakeResolver, **overrides: Any) -> AuditsService:
    values: dict[str, Any] = {
        "database_url": db.url,
        "allowlist": f"good.test@127.0.0.1:{site.https_port},good.test@127.0.0.1:{site.http_port}",
        "site_ports": {"good.test": Ports(https=site.https_port, http=site.http_port)},
        "ca_file": site.ca_file, "request_timeout_s": 3.0, "total_budget_s": 8.0, "resolver": "static",
        "kafka_bootstrap_servers": "127.0.0.1:1",  # never contacted: no consumer or relay runs here
    }
    values.update(overrides)
    svc = bootstrap(AuditsSettings(**values), resolver=resolver)
    await svc.runtime.migrate()
    return svc


@pytest.fixture
async def site(deploy: Deploy) -> Deployment:
    return await deploy()


@pytest.fixture
async def svc(sqlite_database: Database, site: Deployment, resolver: FakeResolver) -> AsyncIterator[AuditsService]:
    service = await _service(sqlite_database, site, resolver)
    yield service
    await service.runtime.dispose()


async def add_run(svc: AuditsService, *, domain: str = "good.test", **state: Any) -> uuid.UUID:
    run_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with svc.runtime.uow() as uow:
        assert await uow.runs.enqueue({
            "id": run_id, "lead_id": uuid.uuid4(), "domain": domain, "status": "queued", "requested_at": now,
            "requested_by": "operator:t", "request_event_id": uuid.uuid4(), "correlation_id": None,
            "workspace_id": DEFAULT_WORKSPACE, "queued_at": now, "attempts": 0, "report_slug": new_report_slug(),
        })
        if state:
            await uow.session.execute(update(AuditRunRow).where(AuditRunRow.id == run_id).values(**state))
        await uow.commit()
    return run_id


async def run_state(svc: AuditsService, run_id: uuid.UUID) -> dict[str, Any]:
    async with svc.runtime.uow() as uow:
        row = await uow.runs.get(run_id)
        assert row is not None
        return {"status": row.status, "attempts": row.attempts, "error_kind": row.error_kind,
                "error_message": row.error_message, "lease_until": row.lease_until}


async def outbox_types(svc: AuditsService) -> list[str]:
    async with svc.runtime.uow() as uow:
        rows = (await uow.session.execute(select(outbox.c.event_type).order_by(outbox.c.id))).scalars().all()
    return list(rows)


async def test_queued_run_is_audited_and_announced_started_then_completed(svc: AuditsService) -> None:
    run_id = await add_run(svc)
    assert await svc.worker.poll_once() == 1
    await svc.worker.drain()
    state = await run_state(svc, run_id)
    assert (state["status"], state["attempts"], state["lease_until"]) == ("completed", 1, None)
    assert await outbox_types(svc) == ["AuditStarted", "AuditCompleted"]
    assert await svc.worker.poll_once() == 0  # nothing left to do


async def test_enqueue_is_a_no_op_for_an_existing_run_in_any_state(svc: AuditsService) -> None:
    run_id = await add_run(svc, status="completed", attempts=1)
    async with svc.runtime.uow() as uow:
        again = await uow.runs.enqueue({
            "id": run_id, "lead_id": uuid.uuid4(), "domain": "other.test", "status": "queued",
            "requested_at": datetime.now(UTC), "requested_by": "x", "request_event_id": uuid.uuid4(),
            "queued_at": datetime.now(UTC), "attempts": 0, "report_slug": new_report_slug(),
        })
        await uow.commit()
    assert again is False
    assert (await run_state(svc, run_id))["status"] == "completed"
    assert await svc.worker.poll_once() == 0


async def test_run_left_running_by_a_dead_worker_is_taken_over_after_its_lease(
    svc: AuditsService, site: Deployment
) -> None:
    run_id = await add_run(svc, status="running", attempts=1,
                           lease_until=datetime.now(UTC) - timedelta(seconds=1))
    assert await svc.worker.poll_once() == 1
    await svc.worker.drain()
    state = await run_state(svc, run_id)
    assert (state["status"], state["attempts"]) == ("completed", 2)
    assert await outbox_types(svc) == ["AuditStarted", "AuditCompleted"]
    assert site.https is not None and any(r.path == "/" for r in site.https.requests)


async def test_run_with_a_live_lease_is_left_to_its_worker(svc: AuditsService, site: Deployment) -> None:
    run_id = await add_run(svc, status="running", attempts=1,
                           lease_until=datetime.now(UTC) + timedelta(seconds=60))
    assert await svc.worker.poll_once() == 0
    assert (await run_state(svc, run_id))["status"] == "running"
    assert await outbox_types(svc) == []
    assert site.https is not None and site.https.hits == 0


async def test_run_interrupted_too_often_fails_instead_of_looping(svc: AuditsService, site: Deployment) -> None:
    run_id = await add_run(svc, status="running", attempts=3,
                           lease_until=datetime.now(UTC) - timedelta(seconds=1))
    assert await svc.worker.poll_once() == 0
    state = await run_state(svc, run_id)
    assert (state["status"], state["error_kind"]) == ("failed", "internal")
    assert "interrupted 3 times" in state["error_message"]
    assert await outbox_types(svc) == ["AuditFailed"]
    assert site.https is not None and site.https.hits == 0


async def test_outcome_of_a_superseded_attempt_is_dropped(svc: AuditsService) -> None:
    run_id = await add_run(svc)
    now = datetime.now(UTC)
    async with svc.runtime.uow() as uow:
        assert await uow.runs.claim(run_id, 0, now=now, lease_until=now - timedelta(seconds=1))
        # A second worker took the expired lease over (attempt 2) ...
        assert await uow.runs.claim(run_id, 1, now=now, lease_until=now + timedelta(seconds=60))
        # ... so attempt 1 may no longer record anything, and a stale claim loses.
        assert not await uow.runs.finish(run_id, 1, {"status": "completed"})
        assert not await uow.runs.claim(run_id, 1, now=now, lease_until=now)
        assert await uow.runs.finish(run_id, 2, {"status": "failed"})
        await uow.commit()
    assert (await run_state(svc, run_id))["status"] == "failed"


async def test_one_domain_is_audited_by_one_task_at_a_time(svc: AuditsService) -> None:
    first = await add_run(svc)
    second = await add_run(svc, domain="GOOD.test")
    assert await svc.worker.poll_once() == 1
    await svc.worker.drain()
    assert await svc.worker.poll_once() == 1
    await svc.worker.drain()
    assert [(await run_state(svc, r))["status"] for r in (first, second)] == ["completed", "completed"]
    assert svc.limiter.peak == 1


async def test_the_per_domain_cap_is_the_setting_not_one(sqlite_database: Database, site: Deployment,
                                                         resolver: FakeResolver) -> None:
    svc = await _service(sqlite_database, site, resolver, max_audits_per_domain=3)
    try:
        runs = [await add_run(svc) for _ in range(5)]
        assert await svc.worker.poll_once() == 3  # three of good.test at once, not one
        await svc.worker.drain()
        assert await svc.worker.poll_once() == 2
        await svc.worker.drain()
        assert {(await run_state(svc, r))["status"] for r in runs} == {"completed"}
        assert svc.limiter.peak == 3
    finally:
        await svc.runtime.dispose()


async def test_a_busy_domain_at_the_head_of_the_queue_does_not_starve_the_others(svc: AuditsService,
                                                                                  site: Deployment) -> None:
    """The oldest runs all belong to a domain already being audited (more of them than one claim looks at): the
    worker still claims the run of another domain queued behind them."""
    assert site.https is not None and isinstance(site.https.routes["/"], Reply)
    site.https.routes["/"] = dataclasses.replace(site.https.routes["/"], delay_s=2.0)  # good.test stays busy
    await add_run(svc)
    assert await svc.worker.poll_once() == 1  # good.test is now busy (cap 1)
    for _ in range(svc.settings.max_concurrent_audits * 4 + 5):
        await add_run(svc)
    behind = await add_run(svc, domain="other.test")
    assert await svc.worker.poll_once() == 1
    assert (await run_state(svc, behind))["attempts"] == 1  # claimed (its audit itself fails: not resolvable)
    await svc.worker.drain()
