"""Reads and writes of the leads schema. Every change of a lead goes through `LeadRepository.touch`, which
bumps the version the LeadUpserted snapshot carries.

Every read of workspace-owned rows names its workspace: a lead of another workspace is not found, exactly like a
lead that does not exist (docs/WORKSPACES.md). The one exception is the consumers' up-front lock of a batch's leads
(`get_many(..., workspace=None)`): it only takes locks; each event then reads its lead within its own workspace."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from leads.adapters.orm import (
    AuditRunRow,
    CampaignTemplatesRow,
    CustomStorageRuleRow,
    LeadRow,
    LeadWebhookRow,
    OutreachEmailRow,
    PlusVibeIntegrationRow,
    PushLedgerRow,
    StatusHistoryRow,
)
from servicekit.process.bulk import bulk_insert, flush_changed_rows
from servicekit.process.db import one_of

HISTORY: Table = StatusHistoryRow.__table__  # type: ignore[assignment]
EMAILS: Table = OutreachEmailRow.__table__  # type: ignore[assignment]
INTEGRATIONS: Table = PlusVibeIntegrationRow.__table__  # type: ignore[assignment]
WEBHOOKS: Table = LeadWebhookRow.__table__  # type: ignore[assignment]
# Staged rows whose id is an event's: a second write of the same event adds nothing.
_CONFLICT_KEYS: dict[Table, tuple[str, ...]] = {WEBHOOKS: ("id",)}

SORTS = {
    "updated_at": LeadRow.updated_at,
    "created_at": LeadRow.created_at,
    "company_name": LeadRow.company_name,
    "domain": LeadRow.domain,
    "status": LeadRow.status,
}


class LeadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # Rows preloaded by `runs()`: the session's identity map holds rows weakly, so without this
        # reference they could be collected and each later `run()` would query again.
        self._held: dict[uuid.UUID, AuditRunRow] = {}
        # Leads already locked in this transaction (FOR UPDATE), and ids locked-for that do not exist: a later
        # `get` of either costs no round trip (a consumer batch locks all its leads up front, sorted).
        self._locked: dict[uuid.UUID, LeadRow] = {}
        self._missing: set[uuid.UUID] = set()
        # History and outreach-email rows are append-only: staged as plain values and written with one
        # multi-row INSERT each when the unit of work commits (no ORM object per row).
        self._staged: dict[Table, list[dict[str, Any]]] = {}

    async def get(self, lead_id: uuid.UUID, *, workspace: str, for_update: bool = False) -> LeadRow | None:
        """The workspace's lead; None when there is no such lead, it belongs to another workspace or was deleted."""
        if lead_id in self._locked:
            locked = self._locked[lead_id]
            return locked if locked.workspace == workspace and locked.deleted_at is None else None
        if lead_id in self._missing:
            return None
        stmt = select(LeadRow).where(LeadRow.id == lead_id, LeadRow.workspace == workspace,
                                     LeadRow.deleted_at.is_(None))
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        if for_update and row is not None:  # a lead of another workspace stays unknown here, not "missing"
            self._remember_locked([lead_id], [row])
        return row

    async def get_many(self, ids: Sequence[uuid.UUID], *, workspace: str | None,
                       for_update: bool = False) -> dict[uuid.UUID, LeadRow]:
        """The workspace's leads among `ids`, deleted ones left out (`workspace=None`: of any workspace, deleted ones
        too, only to lock them up front; each event then reads its lead with `get`)."""
        if not ids:
            return {}
        stmt = select(LeadRow).where(one_of(LeadRow.id, ids, self._dialect)).order_by(LeadRow.id)
        if workspace is not None:
            stmt = stmt.where(LeadRow.workspace == workspace, LeadRow.deleted_at.is_(None))
        if for_update:
            stmt = stmt.with_for_update()
        rows = {row.id: row for row in (await self.session.execute(stmt)).scalars()}
        if for_update:
            self._remember_locked(ids if workspace is None else rows, rows.values())
        return rows

    def _remember_locked(self, ids: Iterable[uuid.UUID], rows: Iterable[LeadRow]) -> None:
        found = {row.id: row for row in rows}
        self._locked.update(found)
        self._missing.update(i for i in ids if i not in found)

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def add(self, lead: LeadRow) -> None:
        self.session.add(lead)

    @staticmethod
    def touch(lead: LeadRow, now: datetime | None = None) -> None:
        lead.version = (lead.version or 0) + 1
        lead.updated_at = now or datetime.now(UTC)

    async def search(
        self,
        *,
        workspace: str,
        status: str | None,
        campaign_id: str | None,
        text: str | None,
        sort: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[LeadRow], int]:
        stmt = select(LeadRow).where(LeadRow.workspace == workspace, LeadRow.deleted_at.is_(None))
        if status:
            stmt = stmt.where(LeadRow.status == status)
        if campaign_id:
            stmt = stmt.where(LeadRow.campaign_id == campaign_id)
        if text:
            like = f"%{text.lower()}%"
            stmt = stmt.where(
                or_(
                    func.lower(LeadRow.company_name).like(like),
                    func.lower(LeadRow.domain).like(like),
                    func.lower(LeadRow.email).like(like),
                    func.lower(LeadRow.first_name).like(like),
                    func.lower(LeadRow.last_name).like(like),
                )
            )
        total = (await self.session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
        column = SORTS[sort]
        order = column.desc() if descending else column.asc()
        rows = (await self.session.execute(stmt.order_by(order, LeadRow.id).offset(offset).limit(limit))).scalars()
        return list(rows), int(total)

    async def legacy_ids(self, workspace: str) -> list[uuid.UUID]:
        stmt = select(LeadRow.id).where(LeadRow.workspace == workspace, LeadRow.status == "sent",
                                        LeadRow.deleted_at.is_(None))
        return list((await self.session.execute(stmt)).scalars())

    # audit runs
    async def run(self, run_id: uuid.UUID) -> AuditRunRow | None:
        held = self._held.get(run_id)
        return held if held is not None else await self.session.get(AuditRunRow, run_id)

    async def runs(self, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, AuditRunRow]:
        """Several runs in one query (they stay in the session, so later `run()` calls cost no round trip).
        Without their audit profile (~1 KB of JSON each): the batch paths that preload runs only replace it
        (AuditCompleted) or never read it (snapshots); reading it from these rows raises instead of loading."""
        if not run_ids:
            return {}
        stmt = (select(AuditRunRow).where(one_of(AuditRunRow.id, set(run_ids), self._dialect))
                .options(defer(AuditRunRow.profile, raiseload=True)))
        rows = list((await self.session.execute(stmt)).scalars())
        self._held.update((row.id, row) for row in rows)
        return {row.id: row for row in rows}

    def add_run(self, run: AuditRunRow) -> None:
        self.session.add(run)
        self._held[run.id] = run

    # append-only rows
    def _stage(self, table: Table, values: dict[str, Any]) -> None:
        self._staged.setdefault(table, []).append(values)

    async def flush_staged(self) -> None:
        """Writes the staged history and email rows (after the ORM's pending rows: they reference leads)."""
        if not any(self._staged.values()):
            return
        await self.session.flush()
        staged, self._staged = self._staged, {}
        for table, rows in staged.items():
            await bulk_insert(self.session, table, rows, on_conflict_do_nothing=_CONFLICT_KEYS.get(table))

    async def write_for_commit(self) -> None:
        """At commit: the changed leads and runs as one UPDATE per table and set of changed columns on
        PostgreSQL (the ORM's flush would send an UPDATE per row), then the staged rows. Only at commit:
        the rows written leave the session (see `servicekit.process.bulk.flush_changed_rows`)."""
        changed = [obj for obj in self.session.dirty if isinstance(obj, LeadRow | AuditRunRow)]
        await flush_changed_rows(self.session, changed)
        await self.flush_staged()

    # history
    def add_history(self, *, lead_id: uuid.UUID, workspace: str, from_status: str | None, to_status: str, actor: str,
                    reason: str,
                    changed_at: datetime) -> None:
        self._stage(HISTORY, {"lead_id": lead_id, "workspace": workspace, "from_status": from_status,
                              "to_status": to_status,
                              "actor": actor, "reason": reason, "changed_at": changed_at})

    async def history(self, lead_id: uuid.UUID) -> list[StatusHistoryRow]:
        await self.flush_staged()
        stmt = select(StatusHistoryRow).where(StatusHistoryRow.lead_id == lead_id).order_by(StatusHistoryRow.id)
        return list((await self.session.execute(stmt)).scalars())

    # outreach emails
    def add_email(self, *, lead_id: uuid.UUID, workspace: str, type: str, step: int, subject: str, body: str, cta: str,
                  tone: str | None, audit_run_id: uuid.UUID | None, writeback_status: str,
                  created_at: datetime) -> uuid.UUID:
        email_id = uuid.uuid4()
        self._stage(EMAILS, {"id": email_id, "lead_id": lead_id, "workspace": workspace, "type": type, "step": step,
                             "subject": subject,
                             "body": body, "cta": cta, "tone": tone, "audit_run_id": audit_run_id,
                             "writeback_status": writeback_status, "created_at": created_at})
        return email_id

    async def emails(self, lead_id: uuid.UUID) -> list[OutreachEmailRow]:
        await self.flush_staged()
        stmt = (
            select(OutreachEmailRow)
            .where(OutreachEmailRow.lead_id == lead_id)
            .order_by(OutreachEmailRow.created_at.desc(), OutreachEmailRow.step)
        )
        return list((await self.session.execute(stmt)).scalars())

    # PlusVibe webhooks
    def add_webhook(self, *, event_id: uuid.UUID, lead_id: uuid.UUID, workspace: str, activity: str,
                    webhook_event: str, label: str | None, subject: str | None, observed_at: datetime,
                    raw_payload: dict[str, Any]) -> None:
        self._stage(WEBHOOKS, {"id": event_id, "lead_id": lead_id, "workspace": workspace, "activity": activity,
                               "webhook_event": webhook_event, "label": label, "subject": subject,
                               "observed_at": observed_at, "raw_payload": raw_payload})

    async def webhooks_of(self, lead_id: uuid.UUID) -> list[LeadWebhookRow]:
        await self.flush_staged()
        stmt = select(LeadWebhookRow).where(LeadWebhookRow.lead_id == lead_id).order_by(LeadWebhookRow.observed_at)
        return list((await self.session.execute(stmt)).scalars())

    async def runs_of(self, lead_id: uuid.UUID) -> list[AuditRunRow]:
        """Every audit run of the lead, oldest first, without the profile (the timeline never shows it)."""
        stmt = (select(AuditRunRow).where(AuditRunRow.lead_id == lead_id).order_by(AuditRunRow.requested_at)
                .options(defer(AuditRunRow.profile, raiseload=True)))
        return list((await self.session.execute(stmt)).scalars())

    async def pushes_of(self, lead_id: uuid.UUID) -> list[PushLedgerRow]:
        stmt = select(PushLedgerRow).where(PushLedgerRow.lead_id == lead_id).order_by(PushLedgerRow.pushed_at)
        return list((await self.session.execute(stmt)).scalars())

    async def live_enrolments(self, lead_id: uuid.UUID) -> list[PushLedgerRow]:
        """The lead's pushes PlusVibe may still hold: enrolled, or pending (a push under way or not settled)."""
        stmt = select(PushLedgerRow).where(PushLedgerRow.lead_id == lead_id,
                                           PushLedgerRow.state.in_(("enrolled", "pending")))
        return list((await self.session.execute(stmt.order_by(PushLedgerRow.pushed_at))).scalars())

    # push ledger
    async def ledger(self, lead_ids: Sequence[uuid.UUID], campaign_id: str) -> dict[uuid.UUID, PushLedgerRow]:
        if not lead_ids:
            return {}
        stmt = select(PushLedgerRow).where(one_of(PushLedgerRow.lead_id, lead_ids, self._dialect),
                                           PushLedgerRow.campaign_id == campaign_id)
        return {row.lead_id: row for row in (await self.session.execute(stmt)).scalars()}

    def add_ledger(self, row: PushLedgerRow) -> None:
        self.session.add(row)

    # the send dry run's state (docs/TEMPLATES.md)
    async def storage_rule(self, workspace_id: str) -> CustomStorageRuleRow | None:
        return await self.session.get(CustomStorageRuleRow, workspace_id)

    async def integration(self, workspace: str, *, for_update: bool = False) -> PlusVibeIntegrationRow | None:
        """The workspace's PlusVibe integration; `for_update` creates the (disconnected) row if missing and locks
        it, so concurrent connects of one workspace apply one after the other."""
        if for_update:
            await bulk_insert(self.session, INTEGRATIONS, [dict(
                workspace=workspace, connected=False, plusvibe_workspace_id="", plusvibe_workspace_name="",
                sealed_api_key="", key_fingerprint="", key_masked="", version=0, sealed_webhook_secret="",
                webhook_id="", webhook_url="", webhook_plusvibe_workspace_id="", updated_at=datetime.now(UTC))],
                on_conflict_do_nothing=("workspace",))
        return await self.session.get(PlusVibeIntegrationRow, workspace, with_for_update=for_update,
                                      populate_existing=for_update)

    async def save_storage_rule(self, workspace_id: str, rule: str, evidence: str, now: datetime) -> None:
        row = await self.session.get(CustomStorageRuleRow, workspace_id)
        if row is None:
            self.session.add(CustomStorageRuleRow(workspace_id=workspace_id, rule=rule, source="detected",
                                                  evidence=evidence, decided_at=now))
        else:
            row.rule, row.evidence, row.decided_at = rule, evidence, now

    async def campaign_fingerprints(self, workspace: str) -> dict[str, CampaignTemplatesRow]:
        stmt = select(CampaignTemplatesRow).where(CampaignTemplatesRow.workspace == workspace)
        return {row.campaign_id: row for row in (await self.session.execute(stmt)).scalars()}

    def add_campaign_fingerprint(self, row: CampaignTemplatesRow) -> None:
        self.session.add(row)

    async def enrolled_in(self, campaign_id: str, *, workspace: str, for_update: bool = False) -> list[LeadRow]:
        """The workspace's leads linked to a campaign (enrolled by a push and not removed)."""
        return await self._leads_where(LeadRow.workspace == workspace, LeadRow.campaign_id == campaign_id,
                                       for_update=for_update)

    async def _leads_where(self, *conditions: ColumnElement[bool], for_update: bool) -> list[LeadRow]:
        """Leads meeting `conditions`; deleted leads never (nothing may act on one, nor announce it again)."""
        stmt = select(LeadRow).where(*conditions, LeadRow.deleted_at.is_(None)).order_by(LeadRow.id)
        if for_update:
            stmt = stmt.with_for_update()
        rows = list((await self.session.execute(stmt)).scalars())
        if for_update:
            self._remember_locked((row.id for row in rows), rows)
        return rows

    async def latest_enrolment(self, workspace: str) -> PushLedgerRow | None:
        """The workspace's newest enrolment (a lead this service wrote to PlusVibe, for storage-rule detection)."""
        stmt = (select(PushLedgerRow).where(PushLedgerRow.workspace == workspace, PushLedgerRow.state == "enrolled")
                .order_by(PushLedgerRow.pushed_at.desc()).limit(1))
        return (await self.session.execute(stmt)).scalars().first()

    async def flagged(self, *, workspace: str, for_update: bool = False) -> list[LeadRow]:
        """The workspace's leads flagged by the template check (re-checked every pass until the risk is gone)."""
        return await self._leads_where(LeadRow.workspace == workspace, LeadRow.send_risk.is_not(None),
                                       for_update=for_update)
