"""Repositories over the unibox tables, built on the unit of work's session. Every read and write names the platform
workspace it belongs to: a row of another workspace is never found, listed or changed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.common import LeadSnapshot
from contracts.integrations import DEFAULT_WORKSPACE
from unibox.adapters.orm import lead_projection, opens_seen, reply_intents, webhook_events, webhook_secrets


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


@dataclass(frozen=True, slots=True)
class ProjectedLead:
    lead_id: UUID
    email: str
    campaign_id: str | None
    status: str
    workspace: str = DEFAULT_WORKSPACE


class LeadProjection:
    """(workspace, email) → lead, from leads.LeadUpserted (newest version wins; a delete keeps a tombstone)."""

    def __init__(self, session: AsyncSession, *, table: Table = lead_projection) -> None:
        """`table`: the live `lead_projection`, or a table of its shape being rebuilt (unibox.ops)."""
        self.session = session
        self.table = table

    async def apply(self, snapshot: LeadSnapshot, *, deleted: bool, at: datetime,
                    workspace: str = DEFAULT_WORKSPACE) -> bool:
        """Upserts the snapshot unless a newer (or equal) version is already stored; True when applied. A lead
        stays in the workspace it was first projected for: a snapshot naming another one changes nothing."""
        email = (snapshot.contact.email or "").strip().lower() or None
        values = {
            "lead_id": snapshot.lead_id,
            "workspace": workspace,
            "version": snapshot.version,
            "email": email,
            "campaign_id": snapshot.campaign_id,
            "status": str(snapshot.status),
            "deleted": deleted,
            "updated_at": at,
        }
        stmt = _insert(self.session, self.table).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["lead_id"],
            set_={k: stmt.excluded[k] for k in ("version", "email", "campaign_id", "status", "deleted", "updated_at")},
            where=and_(self.table.c.version < stmt.excluded.version,
                       self.table.c.workspace == stmt.excluded.workspace),
        )
        result = await self.session.execute(stmt)
        return bool(getattr(result, "rowcount", 0))

    async def find(self, workspace: str, email: str, campaign_id: str | None = None) -> ProjectedLead | None:
        """The workspace's live lead with this address; with several, the one linked to `campaign_id`, else the
        newest."""
        t = self.table
        rows = (await self.session.execute(
            select(t).where(t.c.workspace == workspace, t.c.email == email.strip().lower(), t.c.deleted.is_(False))
            .order_by(t.c.updated_at.desc())
        )).mappings().all()
        if not rows:
            return None
        chosen = next((r for r in rows if campaign_id and r["campaign_id"] == campaign_id), rows[0])
        return _projected(chosen)

    async def open_candidates(self, workspace: str, lead_statuses: Sequence[str], limit: int) -> list[ProjectedLead]:
        """The workspace's linked leads whose open was not announced yet for their campaign, least recently checked
        first."""
        t = self.table
        seen = select(opens_seen.c.lead_id).where(
            and_(opens_seen.c.lead_id == t.c.lead_id, opens_seen.c.campaign_id == t.c.campaign_id)
        ).exists()
        rows = (await self.session.execute(
            select(t)
            .where(t.c.workspace == workspace, t.c.deleted.is_(False), t.c.email.is_not(None),
                   t.c.campaign_id.is_not(None),
                   t.c.status.in_(list(lead_statuses)), ~seen)
            .order_by(t.c.opens_checked_at.is_not(None), t.c.opens_checked_at, t.c.lead_id)
            .limit(limit)
        )).mappings().all()
        return [_projected(r) for r in rows]

    async def mark_checked(self, workspace: str, lead_id: UUID, at: datetime) -> None:
        t = self.table
        await self.session.execute(
            update(t).where(t.c.workspace == workspace, t.c.lead_id == lead_id).values(opens_checked_at=at)
        )


def _projected(row: RowMapping) -> ProjectedLead:
    return ProjectedLead(lead_id=row["lead_id"], email=row["email"], campaign_id=row["campaign_id"],
                         status=row["status"], workspace=row["workspace"])


@dataclass(frozen=True, slots=True)
class StoredWebhook:
    id: UUID
    webhook_event: str
    payload: dict[str, Any]
    received_at: datetime
    processed: bool
    workspace: str = DEFAULT_WORKSPACE


class WebhookLog:
    """The inbound webhook log: raw payloads, one row per distinct payload, delivery count."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, *, dedupe_key: str, webhook_event: str, payload: dict[str, Any],
                     at: datetime, workspace: str = DEFAULT_WORKSPACE) -> tuple[StoredWebhook, bool]:
        """Stores the payload; on a redelivery bumps the counter. Returns (row, is_first_delivery)."""
        stmt = _insert(self.session, webhook_events).values(
            id=uuid.uuid4(), dedupe_key=dedupe_key, webhook_event=webhook_event[:120], payload=payload,
            received_at=at, last_received_at=at, deliveries=1, workspace=workspace,
        ).on_conflict_do_nothing(index_elements=["workspace", "dedupe_key"])
        first = bool(getattr(await self.session.execute(stmt), "rowcount", 0) == 1)
        same = (webhook_events.c.workspace == workspace, webhook_events.c.dedupe_key == dedupe_key)
        if not first:
            await self.session.execute(
                update(webhook_events).where(*same)
                .values(deliveries=webhook_events.c.deliveries + 1, last_received_at=at)
            )
        row = (await self.session.execute(select(webhook_events).where(*same))).mappings().one()
        return _stored(row), first

    async def claim(self, webhook_id: UUID, *, activity: str, lead_id: UUID | None, outcome: str,
                    at: datetime) -> bool:
        """Marks the row processed; False when another process already did (then emit nothing)."""
        result = await self.session.execute(
            update(webhook_events)
            .where(webhook_events.c.id == webhook_id, webhook_events.c.processed_at.is_(None))
            .values(processed_at=at, activity=activity, lead_id=lead_id, outcome=outcome)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def unprocessed(self, limit: int) -> list[StoredWebhook]:
        """Of every workspace: each row is then processed within its own workspace (`StoredWebhook.workspace`)."""
        rows = (await self.session.execute(
            select(webhook_events).where(webhook_events.c.processed_at.is_(None))
            .order_by(webhook_events.c.received_at).limit(limit)
        )).mappings().all()
        return [_stored(r) for r in rows]

    async def count(self) -> int:
        return int((await self.session.execute(select(func.count()).select_from(webhook_events))).scalar_one())


def _stored(row: RowMapping) -> StoredWebhook:
    return StoredWebhook(id=row["id"], webhook_event=row["webhook_event"], payload=dict(row["payload"]),
                         received_at=row["received_at"], processed=row["processed_at"] is not None,
                         workspace=row["workspace"])


class ReplyIntents:
    """One row per (workspace, idempotency key), committed before PlusVibe is called."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, workspace: str, idempotency_key: str) -> dict[str, Any] | None:
        row = (await self.session.execute(
            select(reply_intents).where(reply_intents.c.workspace == workspace,
                                        reply_intents.c.idempotency_key == idempotency_key)
        )).mappings().first()
        return dict(row) if row is not None else None

    async def create(self, values: dict[str, Any]) -> bool:
        """Inserts the intent (`values` name its workspace); False when the workspace already has the key (a
        concurrent or earlier request)."""
        stmt = _insert(self.session, reply_intents).values(**values).on_conflict_do_nothing(
            index_elements=["workspace", "idempotency_key"])
        return bool(getattr(await self.session.execute(stmt), "rowcount", 0) == 1)

    async def transition(self, intent_id: UUID, from_statuses: Sequence[str], **values: Any) -> bool:
        """Compare-and-set on status, so two requests with one key never both send."""
        result = await self.session.execute(
            update(reply_intents)
            .where(reply_intents.c.id == intent_id, or_(*(reply_intents.c.status == s for s in from_statuses)))
            .values(**values)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def sent_email_ids(self, workspace: str, to_address: str, *, exclude: UUID) -> set[str]:
        """PlusVibe ids already confirmed for the workspace's other replies to this address."""
        rows = (await self.session.execute(
            select(reply_intents.c.plusvibe_email_id).where(
                reply_intents.c.workspace == workspace,
                func.lower(reply_intents.c.to_address) == to_address.lower(), reply_intents.c.id != exclude,
                reply_intents.c.plusvibe_email_id.is_not(None))
        )).scalars().all()
        return {str(r) for r in rows}


class OpensSeen:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def mark(self, workspace: str, lead_id: UUID, campaign_id: str, at: datetime) -> bool:
        """True the first time an open is recorded for this lead (of `workspace`) in this campaign."""
        stmt = _insert(self.session, opens_seen).values(lead_id=lead_id, campaign_id=campaign_id, observed_at=at,
                                                        workspace=workspace)
        stmt = stmt.on_conflict_do_nothing(index_elements=["lead_id", "campaign_id"])
        return bool(getattr(await self.session.execute(stmt), "rowcount", 0) == 1)


@dataclass(frozen=True, slots=True)
class StoredWebhookSecret:
    """A workspace's webhook secret as last announced, still sealed ('' = none: refuse every delivery)."""

    workspace: str
    sealed_secret: str
    version: int
    changed_at: datetime


class WebhookSecrets:
    """The newest webhook secret per platform workspace, from PlusVibeIntegrationChanged. Never opens a secret."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def keep_newest(self, workspace: str, *, sealed_secret: str, version: int, changed_at: datetime) -> bool:
        """Stores the secret unless this version or a newer one is stored (an older event arriving late changes
        nothing, as in `plusvibe.credential_store.CredentialStore.keep_newest`); True when stored."""
        t = webhook_secrets
        stmt = _insert(self.session, t).values(workspace=workspace, sealed_secret=sealed_secret, version=version,
                                               changed_at=changed_at)
        stmt = stmt.on_conflict_do_update(
            index_elements=["workspace"],
            set_={k: stmt.excluded[k] for k in ("sealed_secret", "version", "changed_at")},
            where=t.c.version < stmt.excluded.version,
        )
        return bool(getattr(await self.session.execute(stmt), "rowcount", 0))

    async def get(self, workspace: str) -> StoredWebhookSecret | None:
        row = (await self.session.execute(select(webhook_secrets).where(webhook_secrets.c.workspace == workspace))
               ).mappings().first()
        return StoredWebhookSecret(**row) if row is not None else None
