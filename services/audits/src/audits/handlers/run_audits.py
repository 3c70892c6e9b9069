"""The audit worker: leases queued runs, audits them outside any transaction under the AuditLimiter caps,
and records each outcome with its event.

  tx1  claim (queued → running, attempts+1, lease) + AuditStarted      commit
       run_audit(...)  — no transaction, no connection held; bounded by the engine's total budget
  tx2  store result + AuditCompleted | AuditFailed, only if this attempt still owns the run   commit

A worker that dies mid-audit leaves its run `running` with a lease; when the lease runs out any worker takes
the run over (a new attempt). After `max_attempts` interrupted attempts the run fails instead of looping.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from audits.adapters.orm import AuditRunRow
from audits.adapters.uow import AuditsUnitOfWork
from audits.engine import AuditEngineSettings, AuditFailure, AuditLimiter, Resolver, run_audit
from audits.engine.transport import Dialer
from audits.handlers import outcomes
from audits.handlers.outcomes import RunRef
from audits.settings import AuditsSettings
from contracts.audits import AuditStarted
from contracts.envelope import EventData
from servicekit.messaging.retry import backoff_delays
from servicekit.process.tracing import continued_from

log = logging.getLogger(__name__)


def _ref(row: AuditRunRow) -> RunRef:
    return RunRef(
        id=row.id, lead_id=row.lead_id, domain=row.domain, requested_at=row.requested_at,
        report_slug=row.report_slug, attempt=row.attempts, request_event_id=row.request_event_id,
        correlation_id=row.correlation_id, workspace_id=row.workspace_id, traceparent=row.traceparent,
    )


def announce(uow: AuditsUnitOfWork, run: RunRef, data: EventData) -> None:
    """Outbox write of an event caused by the run's AuditRequested (same correlation id, same trace)."""
    with continued_from(run.traceparent, f"announce {data.EVENT_TYPE}"):
        uow.publish(data, correlation_id=run.correlation_id, workspace_id=run.workspace_id,
                    causation_id=run.request_event_id)


class AuditWorker:
    def __init__(
        self,
        uow_factory: Callable[[], AuditsUnitOfWork],
        settings: AuditsSettings,
        *,
        engine_settings: AuditEngineSettings,
        resolver: Resolver,
        limiter: AuditLimiter,
        dialer: Dialer | None = None,
    ) -> None:
        self._uow = uow_factory
        self._settings = settings
        self._engine_settings = engine_settings
        self._resolver = resolver
        self._limiter = limiter
        self._dialer = dialer
        self._tasks: dict[Any, asyncio.Task[None]] = {}
        self._domains: collections.Counter[str] = collections.Counter()  # audits in flight per domain
        self._wake = asyncio.Event()

    @property
    def active(self) -> int:
        return len(self._tasks)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Polls for work until `stop`; then waits for the audits in flight (each bounded by its budget)."""
        try:
            while not stop.is_set():
                try:
                    await self.poll_once()
                except Exception:
                    log.exception("audit worker poll failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.worker_poll_interval_s)
                self._wake.clear()
        finally:
            await self.drain()

    async def drain(self) -> None:
        """Waits for the audits in flight (each bounded by the engine's budget)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def poll_once(self) -> int:
        """Claims as many runs as there are free slots, at most `max_audits_per_domain` of one domain at a time;
        returns how many. Domains already at their cap are left out of the query itself: were they only skipped
        here, a queue whose oldest runs all belong to one busy (or slow) domain would starve every other domain
        behind them."""
        free = self._settings.max_concurrent_audits - len(self._tasks)
        if free <= 0:
            return 0
        per_domain = self._settings.max_audits_per_domain
        now = datetime.now(UTC)
        lease_until = now + timedelta(seconds=self._settings.lease_s)
        started: list[RunRef] = []
        taken = collections.Counter(self._domains)
        async with self._uow() as uow:
            busy = {domain for domain, n in taken.items() if n >= per_domain}
            for run_id, attempts in await uow.runs.claimable(now, free * 4, skip_domains=busy):
                if len(started) >= free:
                    break
                row = await uow.runs.get(run_id)
                if row is None or taken[row.domain.lower()] >= per_domain:
                    continue
                if attempts >= self._settings.max_attempts:
                    await self._give_up(uow, row, attempts, now)
                    continue
                if not await uow.runs.claim(run_id, attempts, now=now, lease_until=lease_until):
                    continue  # another worker was faster
                taken[row.domain.lower()] += 1
                ref = replace(_ref(row), attempt=attempts + 1)
                announce(uow, ref, AuditStarted(
                    lead_id=ref.lead_id, audit_run_id=ref.id, domain=ref.domain, requested_at=ref.requested_at,
                    started_at=now,
                ))
                started.append(ref)
            await uow.commit()
        for ref in started:
            self._domains[ref.domain.lower()] += 1
            task = asyncio.create_task(self._execute(ref), name=f"audit-{ref.id}")
            self._tasks[ref.id] = task
        return len(started)

    async def _give_up(self, uow: AuditsUnitOfWork, row: AuditRunRow, attempts: int, now: datetime) -> None:
        ref = _ref(row)
        message = f"the audit of {row.domain} was interrupted {attempts} times (worker restarts); start it again"
        values, event = outcomes.failed(ref, "internal", message, at=now)
        # Own the run first (compare-and-set), then fail it: a live worker's lease is never overridden.
        if await uow.runs.claim(row.id, attempts, now=now, lease_until=now) and await uow.runs.finish(
            row.id, attempts + 1, values
        ):
            announce(uow, ref, event)

    async def _execute(self, run: RunRef) -> None:
        try:
            with continued_from(run.traceparent, "audit", domain=run.domain):
                outcome = await self._audit(run)
                await self._record(run, *outcome)
        except Exception:
            # The lease runs out and another attempt takes the run over.
            log.exception("audit run %s could not be recorded", run.id)
        finally:
            self._tasks.pop(run.id, None)
            self._domains[run.domain.lower()] -= 1
            if self._domains[run.domain.lower()] <= 0:
                del self._domains[run.domain.lower()]
            self._wake.set()

    async def _audit(self, run: RunRef) -> tuple[dict[str, Any], EventData]:
        budget = self._engine_settings.total_budget_s
        try:
            async with self._limiter.slot(run.domain):
                # The engine bounds itself by `total_budget_s`; the outer timeout is a backstop.
                async with asyncio.timeout(budget + 10):
                    result = await run_audit(
                        run.domain,
                        settings=self._engine_settings,
                        resolver=self._resolver,
                        report_url=self._settings.report_url(run.report_slug),
                        dialer=self._dialer,
                    )
        except AuditFailure as failure:
            return outcomes.from_failure(run, failure, at=datetime.now(UTC))
        except TimeoutError:
            return outcomes.failed(run, "timeout", f"the audit of {run.domain} took longer than {budget:g} s",
                                   at=datetime.now(UTC))
        except Exception as exc:  # a bug must fail the run visibly, not leave it running forever
            log.exception("audit of %s crashed", run.domain)
            return outcomes.failed(run, "internal",
                                   f"the audit of {run.domain} stopped on an internal error ({type(exc).__name__})",
                                   at=datetime.now(UTC))
        return outcomes.completed(run, result, at=datetime.now(UTC))

    async def _record(self, run: RunRef, values: dict[str, Any], event: EventData) -> None:
        delays = backoff_delays()
        for attempt in range(5):
            try:
                async with self._uow() as uow:
                    if await uow.runs.finish(run.id, run.attempt, values):
                        announce(uow, run, event)
                    else:
                        log.warning("audit run %s was taken over; dropping the outcome of attempt %s",
                                    run.id, run.attempt)
                    await uow.commit()
                return
            except Exception:
                if attempt == 4:
                    raise
                log.warning("storing the outcome of run %s failed; retrying", run.id, exc_info=True)
                await asyncio.sleep(next(delays))

