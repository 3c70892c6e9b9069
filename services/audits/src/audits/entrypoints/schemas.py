"""HTTP wire schemas of the audits API (camelCase JSON), separate from contracts and domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class CheckOut(_Wire):
    id: str
    category: str
    status: Literal["PASS", "WARN", "FAIL"]
    points: int
    finding: str
    detail: str = ""


class AuditRunOut(_Wire):
    id: uuid.UUID
    lead_id: uuid.UUID
    domain: str
    status: Literal["queued", "running", "completed", "failed"]
    requested_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int
    error_kind: str | None = None
    error_message: str | None = None
    grade: str | None = None
    score: int | None = None
    categories: dict[str, int] | None = None
    checks: list[CheckOut] | None = None
    profile: dict[str, str] | None = None
    report_url: str | None = None
    # The full engine result (redirect chain, certificate, timings, headers, page facts) once completed.
    result: dict[str, Any] | None = None
