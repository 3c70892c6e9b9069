"""What a finished audit becomes: the row values to store and the event to announce (contract shapes)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, get_args

from audits.domain.profile import derive_profile, summary, top_two_issues
from audits.domain.result import AuditResult
from audits.engine import AuditFailure, FailureKind
from contracts.audits import AuditCompleted, AuditErrorKind, AuditFailed
from contracts.common import AuditProfile, CategoryScores

ERROR_KIND: Final[dict[FailureKind, AuditErrorKind]] = {
    FailureKind.INVALID_DOMAIN: "invalid_domain",
    FailureKind.BLOCKED_ADDRESS: "blocked_address",
    FailureKind.BLOCKED_URL: "blocked_address",
    FailureKind.DNS_FAILURE: "dns_failure",
    FailureKind.TIMEOUT: "timeout",
    FailureKind.CONNECTION_REFUSED: "connection_refused",
    FailureKind.CONNECTION_ERROR: "http_error",
    FailureKind.TLS_ERROR: "tls_error",
    FailureKind.TOO_LARGE: "too_large",
    FailureKind.REDIRECT_LOOP: "http_error",
    FailureKind.TOO_MANY_REDIRECTS: "http_error",
    FailureKind.BAD_RESPONSE: "http_error",
}
assert set(ERROR_KIND.values()) <= set(get_args(AuditErrorKind))


@dataclass(frozen=True, slots=True)
class RunRef:
    """What the worker needs of a claimed run to audit it and announce the outcome."""

    id: uuid.UUID
    lead_id: uuid.UUID
    domain: str
    requested_at: datetime
    report_slug: str
    attempt: int
    request_event_id: uuid.UUID
    correlation_id: uuid.UUID | None
    workspace_id: str
    traceparent: str | None = None  # the trace of the AuditRequested: the audit and its events continue it


def completed(run: RunRef, result: AuditResult, *, at: datetime) -> tuple[dict[str, Any], AuditCompleted]:
    profile = derive_profile(result)
    scores = {c.category.value: c.score for c in result.categories}
    top, second = top_two_issues(result.checks)
    values = {
        "status": "completed",
        "finished_at": at,
        "grade": result.grade,
        "score": result.score,
        "categories": scores,
        "checks": result.model_dump(mode="json"),
        "profile": profile,
        "error_kind": None,
        "error_message": None,
    }
    event = AuditCompleted(
        lead_id=run.lead_id, audit_run_id=run.id, domain=run.domain, requested_at=run.requested_at,
        completed_at=at, grade=result.grade, score=result.score, category_scores=CategoryScores(**scores),
        top_issue=top, second_issue=second, summary=summary(result), report_url=result.report_url,
        profile=AuditProfile(**profile),
    )
    return values, event


def failed(run: RunRef, kind: AuditErrorKind, message: str, *, at: datetime) -> tuple[dict[str, Any], AuditFailed]:
    message = message.strip()[:1000] or "the audit failed"
    values = {"status": "failed", "finished_at": at, "error_kind": kind, "error_message": message}
    event = AuditFailed(
        lead_id=run.lead_id, audit_run_id=run.id, domain=run.domain, requested_at=run.requested_at,
        failed_at=at, error_kind=kind, error_message=message,
    )
    return values, event


def from_failure(run: RunRef, failure: AuditFailure, *, at: datetime) -> tuple[dict[str, Any], AuditFailed]:
    return failed(run, ERROR_KIND.get(failure.kind, "internal"), failure.message, at=at)
