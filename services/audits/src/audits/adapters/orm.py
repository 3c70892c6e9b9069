"""The audits service's table (its own schema): one row per audit run, holding the request, the lease of
the worker running it, and the full result."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, MetaData, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from contracts.integrations import DEFAULT_WORKSPACE
from servicekit.process.db import JsonType, UTCDateTime

metadata = MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class AuditRunRow(Base):
    __tablename__ = "audit_runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # = audit_run_id of AuditRequested
    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    domain: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))  # queued | running | completed | failed
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_by: Mapped[str | None] = mapped_column(String(200))
    # The AuditRequested envelope (ids only) so later events carry its correlation and causation.
    request_event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    correlation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The platform workspace the run belongs to (its AuditRequested's): the API shows a run only to a request
    # working in that workspace, and the run's events carry it.
    workspace_id: Mapped[str] = mapped_column(String(100), default=DEFAULT_WORKSPACE,
                                              server_default=DEFAULT_WORKSPACE)
    traceparent: Mapped[str | None] = mapped_column(String(55))  # W3C trace context the audit continues
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_kind: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    report_slug: Mapped[str] = mapped_column(String(64), unique=True)
    grade: Mapped[str | None] = mapped_column(String(2))
    score: Mapped[int | None] = mapped_column(Integer)
    categories: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    checks: Mapped[dict[str, Any] | None] = mapped_column(JsonType)  # the full AuditResult
    profile: Mapped[dict[str, str] | None] = mapped_column(JsonType)

    __table_args__ = (Index("ix_audit_runs_status_lease", "status", "lease_until"),)
