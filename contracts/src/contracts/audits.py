"""Events published by the audits service."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.common import AuditProfile, CategoryScores, Grade, NonEmptyStr
from contracts.envelope import EventData


class AuditEvent(EventData):
    PRODUCER: ClassVar[str] = "audits"
    lead_id: UUID
    audit_run_id: UUID
    domain: NonEmptyStr
    # When leads asked for this run: consumers order runs of one lead by it (newest wins).
    requested_at: AwareDatetime


class AuditStarted(AuditEvent):
    """Audits began fetching the domain of an AuditRequested. Consumed by leads (status stays queued)."""

    EVENT_TYPE: ClassVar[str] = "AuditStarted"
    started_at: AwareDatetime


class AuditCompleted(AuditEvent):
    """Audits finished a run: grade, findings and the 18-key profile. Consumed by leads (link the run,
    `audit_complete`) and writeback (build and send the merge variables)."""

    EVENT_TYPE: ClassVar[str] = "AuditCompleted"
    completed_at: AwareDatetime
    grade: Grade
    score: int = Field(ge=0, le=100)
    category_scores: CategoryScores
    top_issue: NonEmptyStr
    second_issue: NonEmptyStr
    summary: NonEmptyStr
    report_url: NonEmptyStr
    profile: AuditProfile


AuditErrorKind = Literal[
    "dns_failure",
    "timeout",
    "connection_refused",
    "tls_error",
    "blocked_address",
    "invalid_domain",
    "too_large",
    "http_error",
    "internal",
]


class AuditFailed(AuditEvent):
    """Audits could not audit the domain; `error_message` is meant for an operator. Consumed by leads."""

    EVENT_TYPE: ClassVar[str] = "AuditFailed"
    failed_at: AwareDatetime
    error_kind: AuditErrorKind
    error_message: NonEmptyStr
