"""The leads service's tables (its own schema): leads, audit runs, status history, outreach emails, push ledger."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from contracts.integrations import DEFAULT_WORKSPACE
from servicekit.process.db import JsonType, UTCDateTime

metadata = MetaData()


def workspace_column(*, primary_key: bool = False) -> Mapped[str]:
    """The platform workspace a row belongs to (docs/WORKSPACES.md). Rows written before workspaces belong to
    `default`; every read and write of the service names the workspace it works in."""
    return mapped_column(String(100), primary_key=primary_key, server_default=DEFAULT_WORKSPACE)


class Base(DeclarativeBase):
    metadata = metadata


RowT = TypeVar("RowT", bound=Base)


def detached(row: RowT) -> RowT:
    """A copy of a row's columns that outlives its transaction (ending the transaction expires the session's rows, and
    reading an expired row afterwards would need the session again)."""
    return type(row)(**{column.key: getattr(row, column.key) for column in row.__table__.columns})


class LeadRow(Base):
    __tablename__ = "leads"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    workspace: Mapped[str] = workspace_column()
    company_name: Mapped[str | None] = mapped_column(String(300))
    domain: Mapped[str | None] = mapped_column(String(300))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    # Looked up as `lower(email)` within a workspace only (ix_leads_workspace_lower_email, migration 0014).
    email: Mapped[str | None] = mapped_column(String(320))
    title: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    # The operator's own fields (domain/custom_fields.py): name → value, sent with the lead as custom variables.
    custom_fields: Mapped[dict[str, str] | None] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(40), index=True)
    campaign_id: Mapped[str | None] = mapped_column(String(100), index=True)
    # The run the lead links to (set when an audit is requested; newest wins).
    audit_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    audit_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # PlusVibe enrichment (seed: "PlusVibe enrichment")
    pv_label: Mapped[str | None] = mapped_column(String(100))
    pv_reply_sentiment: Mapped[str | None] = mapped_column(String(50))
    pv_last_email_subject: Mapped[str | None] = mapped_column(Text)
    pv_raw_payload: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    pv_last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opens: Mapped[int] = mapped_column(Integer, default=0)
    # plusvibeLeadData.lastOutboundWriteback
    wb_variables: Mapped[dict[str, str] | None] = mapped_column(JsonType)
    wb_audit_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    wb_delivered: Mapped[bool | None] = mapped_column(Boolean)
    wb_applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wb_error: Mapped[str | None] = mapped_column(Text)
    # An edited campaign would now render an empty placeholder for this enrolled lead (None: no known risk).
    send_risk: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)  # sorted within a workspace: the index below
    # Deleted by an operator (handlers/delete_lead.py): kept for the record, gone for every read of the API.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The list's default order within a workspace (every list and search is of one workspace).
    __table_args__ = (Index("ix_leads_workspace_updated_at", "workspace", "updated_at"),)


class AuditRunRow(Base):
    __tablename__ = "audit_runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    workspace: Mapped[str] = workspace_column()  # the lead's
    domain: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))  # queued | running | completed | failed
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_by: Mapped[str] = mapped_column(String(200))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    grade: Mapped[str | None] = mapped_column(String(2))
    score: Mapped[int | None] = mapped_column(Integer)
    top_issue: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    report_url: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[dict[str, str] | None] = mapped_column(JsonType)
    error_message: Mapped[str | None] = mapped_column(Text)


class StatusHistoryRow(Base):
    __tablename__ = "status_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    workspace: Mapped[str] = workspace_column()  # the lead's
    from_status: Mapped[str | None] = mapped_column(String(40))
    to_status: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_status_history_lead", "lead_id", "id"),)


class OutreachEmailRow(Base):
    __tablename__ = "outreach_emails"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    workspace: Mapped[str] = workspace_column()  # the lead's
    type: Mapped[str] = mapped_column(String(20))  # preview | writeback
    step: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    cta: Mapped[str] = mapped_column(Text)
    tone: Mapped[str | None] = mapped_column(String(30))
    audit_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    writeback_status: Mapped[str] = mapped_column(String(20))  # not_written | stored | delivered
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PushLedgerRow(Base):
    """One row per (lead, campaign) enrolment: a second push of the same lead to the same campaign is a no-op."""

    __tablename__ = "push_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    workspace: Mapped[str] = workspace_column()  # the lead's
    campaign_id: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(320))
    state: Mapped[str] = mapped_column(String(20))  # pending | enrolled | removed
    variables: Mapped[dict[str, str]] = mapped_column(JsonType)
    pushed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("lead_id", "campaign_id", name="uq_push_ledger_lead_campaign"),)


class CustomStorageRuleRow(Base):
    """How a PlusVibe workspace stores custom variables (docs/TEMPLATES.md §4), once configured or detected."""

    __tablename__ = "custom_storage_rules"

    workspace_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    rule: Mapped[str] = mapped_column(String(20))  # verbatim | prefixed
    source: Mapped[str] = mapped_column(String(20))  # detected
    evidence: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CampaignTemplatesRow(Base):
    """The last seen fingerprint of a campaign's sequence: a change means the operator edited its templates. Per
    platform workspace: each workspace checks the campaigns of its own connection, on its own schedule."""

    __tablename__ = "campaign_templates"

    workspace: Mapped[str] = workspace_column(primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PlusVibeIntegrationRow(Base):
    """A workspace's PlusVibe integration (docs/INTEGRATIONS.md): the API key only sealed under the deployment's
    KEK, its masked form, and the outcome of the last check. `version` counts changes (the events carry it)."""

    __tablename__ = "plusvibe_integrations"

    workspace: Mapped[str] = mapped_column(String(100), primary_key=True)
    connected: Mapped[bool] = mapped_column(Boolean)
    plusvibe_workspace_id: Mapped[str] = mapped_column(String(100))
    plusvibe_workspace_name: Mapped[str] = mapped_column(String(300))
    sealed_api_key: Mapped[str] = mapped_column(Text)
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    key_masked: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The workspace's PlusVibe webhook (domain/webhook_plan.py): its secret sealed like the key (context
    # `webhook_secret_context(workspace)`), the hook's id and URL and the PlusVibe workspace it lives in.
    sealed_webhook_secret: Mapped[str] = mapped_column(Text, default="")
    webhook_id: Mapped[str] = mapped_column(String(100), default="")
    webhook_url: Mapped[str] = mapped_column(Text, default="")
    webhook_plusvibe_workspace_id: Mapped[str] = mapped_column(String(100), default="")
    webhook_registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    webhook_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PlusVibeAlertRow(Base):
    """A PlusVibe SYSTEM_ALERT the workspace received (docs/CAMPAIGN-STATES.md), e.g. CAMPAIGN_AUTO_PAUSED. Shown
    until an operator dismisses it; the id is the EmailActivityReceived event's, so a replay adds nothing."""

    __tablename__ = "plusvibe_alerts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    workspace: Mapped[str] = workspace_column()
    alert: Mapped[str] = mapped_column(String(100))
    campaign_id: Mapped[str | None] = mapped_column(String(100))
    campaign_name: Mapped[str | None] = mapped_column(String(300))
    message: Mapped[str | None] = mapped_column(Text)
    campaign_paused: Mapped[bool | None] = mapped_column(Boolean)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    raw_payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dismissed_by: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_plusvibe_alerts_workspace_observed", "workspace", "observed_at"),)


class LeadWebhookRow(Base):
    """Every PlusVibe webhook (and observed open) about a lead, as unibox passed it on (EmailActivityReceived): the
    raw payload kept, not only the newest. Its id is the event's, so a redelivery or a replay adds nothing."""

    __tablename__ = "lead_webhooks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    workspace: Mapped[str] = workspace_column()  # the lead's
    activity: Mapped[str] = mapped_column(String(30))  # sent | opened | replied | bounced | label_changed | other
    webhook_event: Mapped[str] = mapped_column(String(100))
    label: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(Text)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    raw_payload: Mapped[dict[str, Any]] = mapped_column(JsonType)

    __table_args__ = (Index("ix_lead_webhooks_lead_observed", "lead_id", "observed_at"),)


class CopySettingsRow(Base):
    """How copy is written for one campaign of a workspace, or the workspace's default (`campaign_id` ""), as an
    operator set it (docs/COPY-SETTINGS.md). `version` counts changes; CopySettingsChanged carries it."""

    __tablename__ = "copy_settings"

    workspace: Mapped[str] = workspace_column(primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    tone: Mapped[str | None] = mapped_column(String(20))  # None: the workspace default's
    steps: Mapped[int | None] = mapped_column(Integer)  # None: as many as the campaign has
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))


class ImportUploadRow(Base):
    """A CSV file an operator uploaded for import (docs/CSV.md), kept whole so every import of it reads the same
    bytes."""

    __tablename__ = "lead_import_uploads"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class LeadImportRow(Base):
    """One import of an upload with its options: progress while it runs, counts and per-row errors once done.
    `idempotency_key` (the file's hash and the options) makes a second import of the same file the same import."""

    __tablename__ = "lead_imports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(100))
    upload_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(20))  # running | done | refused | failed
    total: Mapped[int] = mapped_column(Integer)
    processed: Mapped[int] = mapped_column(Integer)
    created: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("workspace", "idempotency_key", name="uq_lead_imports_workspace_key"),)


class ImportMappingRow(Base):
    """The column mapping (lead field → CSV header) a workspace last imported with, offered on the next upload."""

    __tablename__ = "lead_import_mappings"

    workspace: Mapped[str] = mapped_column(String(100), primary_key=True)
    mapping: Mapped[dict[str, str]] = mapped_column(JsonType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PlusVibeSyncRow(Base):
    """One first sync of a workspace's leads from PlusVibe (docs/FIRST-SYNC.md). `next_page` moves in the same
    commit as that page's leads, so a sync resumes exactly where its last commit left it. `runner` names the task
    working on it now (None once it has ended); `heartbeat_at` tells whether that task is alive."""

    __tablename__ = "plusvibe_syncs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))  # running | done | failed
    runner: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    next_page: Mapped[int] = mapped_column(Integer)
    pages_done: Mapped[int] = mapped_column(Integer)
    seen: Mapped[int] = mapped_column(Integer)
    created: Mapped[int] = mapped_column(Integer)
    linked: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    conflict_count: Mapped[int] = mapped_column(Integer)
    conflicts: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)  # the first ones (domain/first_sync.py)
    resumes: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))

    # The migration also keeps at most one running sync per workspace (partial unique index uq_plusvibe_syncs_running).
    __table_args__ = (Index("ix_plusvibe_syncs_workspace_started", "workspace", "started_at"),)
