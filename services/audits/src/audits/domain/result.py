"""The full, JSON-serialisable result of one audit; the 18-key profile is derived from it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from audits.domain.grading import Category, Status


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class RedirectHop(_Model):
    url: str
    status: int
    location: str | None = None
    ttfb_ms: float


class Timings(_Model):
    ttfb_ms: float
    load_ms: float
    audit_ms: float


class CertInfo(_Model):
    """The certificate presented on the https port (parsed even when it failed verification)."""

    valid: bool
    error: str | None = None
    subject: str | None = None
    issuer: str | None = None
    not_after: datetime | None = None
    days_left: int = 0
    names: list[str] = []


class EmailAuth(_Model):
    spf: str | None = None
    dmarc: str | None = None
    dmarc_policy: str | None = None


class PageFacts(_Model):
    """What the homepage HTML says (the part of the result beyond the merge fields)."""

    title: str | None = None
    meta_description: str | None = None
    lang: str | None = None
    h1_count: int = 0
    canonical: str | None = None
    viewport: str | None = None
    images: int = 0
    images_missing_alt: int = 0
    html_bytes: int = 0
    transfer_bytes: int = 0
    content_encoding: str | None = None
    cms: str | None = None
    social_tags: list[str] = []
    render_blocking_scripts: int = 0
    insecure_resources: list[str] = []


class CheckResult(_Model):
    id: str
    category: Category
    status: Status
    points: int
    finding: str
    detail: str = ""


class CategoryScore(_Model):
    category: Category
    score: int
    weight: int


class AuditResult(_Model):
    domain: str
    audited_at: datetime
    report_url: str
    requested_url: str
    final_url: str
    status_code: int
    https_available: bool
    http_redirects_to_https: bool | None
    http_error: str | None = None
    cert: CertInfo | None
    redirect_chain: list[RedirectHop]
    timings: Timings
    headers: dict[str, str]
    page: PageFacts
    robots_txt: str | None
    sitemap_found: bool
    email_auth: EmailAuth
    checks: list[CheckResult]
    categories: list[CategoryScore]
    score: int
    grade: str
