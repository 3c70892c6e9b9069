"""Use case (a loop of the service): deliver pending linked writebacks, i.e. send them to PlusVibe OUTSIDE any consumer transaction.

The consumer commits a `pending` attempt (with its inbox row) in the batch transaction; this worker claims
it with a short transaction (lease), calls `/lead/data/update` through the shared client (limiter,
retries, breaker) with no transaction open, then records the outcome and its event (outbox) in another
short transaction. A crash at any point leaves the attempt pending and its lease expires: the upsert is
sent again (it is idempotent) and the event is written once. Transient faults are retried here, with
backoff, up to `delivery_retry_budget_s` from the first try; then (or on a permanent error) the attempt
fails and WritebackFailed is emitted. The consumer therefore never sees a PlusVibe fault: an outage
cannot block a partition or fill the DLQ.

Each attempt goes through the PlusVibe port of its lead's platform workspace (the key and PlusVibe workspace
connected for it), and its WritebackCompleted/WritebackFailed carry that workspace.

The copy is written with the copy setting of the lead's campaign, else its workspace's default
(`domain.copy_settings`), read with the claim (the setting as it is when the attempt is sent): its tone, and its
step count or else the campaign's own in PlusVibe. WritebackCompleted carries the tone.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import RowMapping

from contracts.writeback import WritebackCompleted, WritebackFailed
from copywriter import CopyChoice, Tone
from plusvibe.errors import AmbiguousSendError, CircuitOpenError, PlusVibeError, RateLimitedError
from plusvibe.errors import TransientError as PlusVibeTransient
from plusvibe.port import PlusVibePort
from servicekit.messaging.uow import OutboxSignal
from servicekit.process.errors import is_transient
from servicekit.process.tracing import continued_from
from writeback.adapters.steps import StepCache
from writeback.adapters.uow import WritebackUnitOfWork
from writeback.domain import attempts as st
from writeback.domain.copy_settings import copy_for
from writeback.domain.payload import CopyInputs, PayloadError, build_variables, payload_hash
from writeback.settings import WritebackSettings

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class DeliveryWorker:
    def __init__(self, uow_factory: Callable[[], WritebackUnitOfWork], ports: Callable[[str], PlusVibePort],
                 steps: StepCache, settings: WritebackSettings, signal: OutboxSignal,
                 rng: random.Random | None = None) -> None:
        """`ports(workspace)`: the PlusVibe port of a platform workspace."""
        self._uow = uow_factory
        self._ports = ports
        self._steps = steps
        self._settings = settings
        self._signal = signal
        self._rng = rng or random.Random()
        self.calls = 0

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._loop(stop) for _ in range(self._settings.delivery_concurrency)))

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                worked = await self.deliver_one()
            except Exception:
                log.exception("delivery worker iteration failed; retrying")
                worked = False
                await asyncio.sleep(1.0)
            if not worked:
                await self._signal.wait(self._settings.delivery_poll_interval_s)

    async def drain(self, *, timeout_s: float = 30.0) -> None:
        """Delivers every attempt due now (tests and one-shot tools)."""
        async with asyncio.timeout(timeout_s):
            while await self.deliver_one():
                pass

    async def deliver_one(self) -> bool:
        claimed = await self._claim()
        if claimed is None:
            return False
        row, copy = claimed
        with continued_from(row["traceparent"], "deliver writeback"):  # the trace of the causing event
            await self._deliver(row, copy)
        return True

    async def _claim(self) -> tuple[RowMapping, CopyChoice] | None:
        """The attempt due soonest, leased, and the copy its lead's campaign settings choose (read in the same
        short transaction)."""
        async with self._uow() as uow:
            row = await uow.repo.lease_due_attempt(_now(), lease_s=self._settings.delivery_lease_s)
            if row is None:
                return None
            campaign, default = await uow.copy_settings.for_campaign(row["workspace"], row["campaign_id"])
            await uow.commit()
        if row["copy_tone"]:  # a manual writeback: the setting leads saw at the press (WritebackRequested)
            return row, CopyChoice(Tone(row["copy_tone"]), row["copy_steps"], "campaign")
        return row, copy_for(campaign, default, linked=True)

    async def _deliver(self, row: RowMapping, copy: CopyChoice) -> None:
        try:
            inputs = CopyInputs.from_json(row["inputs"])
            port = self._ports(row["workspace"])
            steps = (copy.steps if copy.steps is not None
                     else await self._steps.steps(row["workspace"], row["campaign_id"]))
            # The variables of this try, with the settings of now: what an earlier cut-off call is compared with.
            variables = build_variables(inputs, steps=steps, tone=copy.tone)
            if not (row["maybe_applied"] and await self._holds_already(port, row, variables)):
                self.calls += 1
                await port.update_lead_variables(row["email"], variables, campaign_id=row["campaign_id"],
                                                      at_most_once=True)
        except Exception as exc:  # every outcome is recorded; only these two kinds are worth retrying
            transient = isinstance(exc, PlusVibeTransient) or (
                not isinstance(exc, PlusVibeError | PayloadError) and is_transient(exc))
            await self._retry_or_fail(row, exc, transient=transient)
            return
        await self._finish(row, variables, steps, copy.tone)

    @staticmethod
    async def _holds_already(port: PlusVibePort, row: RowMapping, variables: dict[str, str]) -> bool:
        """Does PlusVibe already hold these variables for the lead in this campaign (the previous call of this
        attempt was applied before its answer was lost)?"""
        rows = await port.get_lead(row["email"], campaign_id=row["campaign_id"])
        held = any(r.campaign in ("", row["campaign_id"]) and
                   all(_as_text(r.variable(k)) == v for k, v in variables.items()) for r in rows)
        if held:
            log.info("writeback %s: PlusVibe already holds the variables of the cut-off call; not sent again",
                     row["id"])
        return held

    async def _finish(self, row: RowMapping, variables: dict[str, str], steps: int, tone: Tone) -> None:
        now = _now()
        async with self._uow() as uow:
            status = await uow.repo.lock_attempt_status(row["id"])
            values: dict[str, Any] = {"variables": variables, "payload_hash": payload_hash(variables),
                                      "payload_keys": sorted(variables), "steps": steps, "lease_until": None,
                                      "updated_at": now, "error": None}
            if status == st.PENDING:
                values.update(status=st.DELIVERED, delivered=True, completed_at=now, next_try_at=None)
                self._publish(uow, row, st.completed(row, variables=variables, delivered=True, steps=steps, tone=tone,
                                                     at=now))
            await uow.repo.update_attempt(row["id"], values)
            await uow.commit()

    async def _retry_or_fail(self, row: RowMapping, exc: BaseException, *, transient: bool) -> None:
        now = _now()
        s = self._settings
        tries = int(row["attempts"]) + 1
        delay = st.backoff_s(tries, base_s=s.delivery_backoff_base_s, cap_s=s.delivery_backoff_cap_s,
                             jitter=self._rng.uniform(0.5, 1.0))
        if isinstance(exc, CircuitOpenError):
            delay = max(delay, exc.retry_in)
        elif isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        first = row["first_try_at"] or now
        within_budget = (now + timedelta(seconds=delay) - first).total_seconds() <= s.delivery_retry_budget_s
        error = f"{type(exc).__name__}: {exc}"[:500]
        async with self._uow() as uow:
            status = await uow.repo.lock_attempt_status(row["id"])
            values: dict[str, Any] = {"lease_until": None, "updated_at": now, "error": error,
                                      "maybe_applied": row["maybe_applied"] or _maybe_applied(exc)}
            if status == st.PENDING and transient and within_budget:
                values["next_try_at"] = now + timedelta(seconds=delay)
                log.warning("writeback delivery failed, retrying in %.2fs: %s", delay, error)
            elif status == st.PENDING:
                values.update(status=st.FAILED, completed_at=now, next_try_at=None)
                log.error("writeback delivery failed for good: %s", error)
                self._publish(uow, row, WritebackFailed(
                    lead_id=row["lead_id"], audit_run_id=row["audit_run_id"],
                    audit_requested_at=row["audit_requested_at"], error=error, attempts=tries,
                    failed_at=now, request_id=row["request_id"]))
            await uow.repo.update_attempt(row["id"], values)
            await uow.commit()

    @staticmethod
    def _publish(uow: WritebackUnitOfWork, row: RowMapping, data: WritebackCompleted | WritebackFailed) -> None:
        uow.publish(data, correlation_id=row["correlation_id"], causation_id=row["causation_event_id"],
                    workspace_id=row["workspace"])


def _maybe_applied(exc: BaseException) -> bool:
    """Could the failed call have changed the lead in PlusVibe? Only when the request may have reached it and no
    answer proves otherwise (an HTTP error status is such proof; so is a refused connection or the open breaker,
    which the client reports as errors without a status)."""
    if isinstance(exc, AmbiguousSendError):
        return True
    if isinstance(exc, PlusVibeError):
        return False
    return not isinstance(exc, PayloadError)


def _as_text(value: object) -> str:
    return "" if value is None else str(value)
