"""HTTP wire schemas of the leads API (camelCase JSON), separate from contracts and domain."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.alias_generators import to_camel

from leads.domain.custom_fields import CustomFieldError
from leads.domain.custom_fields import validate as validate_custom_fields
from servicekit.messaging.wire import NulFree

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class WireIn(Wire, NulFree):
    """A request body (NUL refused, see servicekit.messaging.wire)."""


def normalise_domain(value: str | None) -> str | None:
    """`https://www.Shop.com/about` → `www.shop.com`; "" → None; the placeholder `unknown` is kept."""
    if value is None:
        return None
    text = value.strip().lower()
    if not text:
        return None
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rstrip(".")
    if "@" in text:
        raise ValueError("a domain cannot contain credentials")
    host = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    if host != "unknown" and not HOST.match(host):
        raise ValueError(f"{value!r} is not a domain name")
    return text


def normalise_email(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if not EMAIL.match(text) or len(text) > 320:
        raise ValueError(f"{value!r} is not an email address")
    return text.lower()


class ContactIn(WireIn):
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    email: str | None = None
    title: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=100)

    _email = field_validator("email")(normalise_email)


def _custom_fields(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    try:
        return validate_custom_fields(value)
    except CustomFieldError as exc:
        raise ValueError(str(exc)) from None


class LeadCreate(WireIn):
    company_name: str | None = Field(default=None, max_length=300)
    domain: str | None = None
    contact: ContactIn = ContactIn()
    notes: str | None = Field(default=None, max_length=10_000)
    # The operator's own fields (docs/TEMPLATES.md): name → value, usable in templates as {{name}}.
    custom_fields: dict[str, str] | None = None

    _domain = field_validator("domain")(normalise_domain)
    _custom = field_validator("custom_fields")(_custom_fields)


class LeadPatch(WireIn):
    company_name: str | None = Field(default=None, max_length=300)
    domain: str | None = None
    contact: ContactIn | None = None
    notes: str | None = Field(default=None, max_length=10_000)
    status: str | None = None
    custom_fields: dict[str, str] | None = None  # replaces the whole set ({} removes every field)

    _domain = field_validator("domain")(normalise_domain)
    _custom = field_validator("custom_fields")(_custom_fields)


class EmailRequest(WireIn):
    tone: str | None = None  # null: the lead's campaign's copy setting, else the workspace default's
    steps: int | None = Field(default=None, ge=1, le=10)  # null: the campaign's copy setting, else 1


class PushRequest(WireIn):
    campaign_id: str = Field(min_length=1, max_length=100)
    lead_ids: list[str] = Field(min_length=1, max_length=10_000)


class ContactOut(Wire):
    first_name: str | None
    last_name: str | None
    email: str | None
    title: str | None
    phone: str | None


class AuditOut(Wire):
    audit_run_id: str
    status: str
    grade: str | None
    score: int | None
    top_issue: str | None
    summary: str | None
    report_url: str | None
    error_message: str | None
    requested_at: datetime | None
    completed_at: datetime | None


class WritebackOut(Wire):
    variables: dict[str, str]
    audit_run_id: str | None
    applied_at: datetime | None
    delivered: bool
    error: str | None = None


class PlusVibeLeadDataOut(Wire):
    label: str | None
    reply_sentiment: str | None
    last_email_subject: str | None
    raw_webhook_payload: dict[str, Any] | None
    last_outbound_writeback: WritebackOut | None
    last_writeback_error: str | None


class LeadOut(Wire):
    id: str
    company_name: str | None
    domain: str | None
    title: str  # company name, else domain (the detail screen's title)
    contact: ContactOut
    notes: str | None
    custom_fields: dict[str, str] = Field(default_factory=dict)
    status: str
    status_badge: str
    status_dropdown_label: str | None
    campaign_id: str | None
    audit: AuditOut | None
    audit_summary: str | None
    opens: int
    plusvibe_lead_data: PlusVibeLeadDataOut | None
    # Set when the lead's campaign was edited after enrolment and would now render an empty placeholder.
    send_risk: dict[str, Any] | None = None
    version: int
    created_at: datetime
    updated_at: datetime


class LeadPage(Wire):
    items: list[LeadOut]
    total: int
    page: int
    page_size: int


class HistoryOut(Wire):
    from_status: str | None
    to_status: str
    actor: str
    reason: str
    changed_at: datetime


class TimelineEntryOut(Wire):
    at: datetime
    kind: str
    title: str
    detail: str
    actor: str
    raw: dict[str, Any] | None = None  # a webhook's (kind `webhook` or `reply`) payload as PlusVibe sent it


class TimelinePage(Wire):
    items: list[TimelineEntryOut]
    total: int
    page: int
    page_size: int


class OutreachEmailOut(Wire):
    id: str
    type: str
    step: int
    subject: str
    body: str
    cta: str
    tone: str | None
    audit_run_id: str | None
    writeback_status: str
    created_at: datetime


class StatusOut(Wire):
    value: str
    badge_label: str
    dropdown_label: str | None
    selectable: bool


class SendProblemOut(Wire):
    """One placeholder that would render empty: where it is and what to do."""

    token: str | None
    step: int | None
    variation: str | None
    part: str | None
    reason: str
    remedy: str
    message: str


class RefusedLead(Wire):
    lead_id: str
    status: str | None
    reason: str
    remedy: str
    message: str
    keys: list[str] = []
    # Where the first problem is (send dry run), and every problem.
    token: str | None = None
    step: int | None = None
    variation: str | None = None
    part: str | None = None
    problems: list[SendProblemOut] = []


class RenderedSubjectOut(Wire):
    text: str  # exactly as PlusVibe would send it
    marked: str  # HTML-escaped, each problem wrapped in <mark class="pv-problem">


class RenderedBodyOut(Wire):
    html: str  # exactly as PlusVibe would send it
    marked: str  # the same HTML, each problem wrapped in <mark class="pv-problem">


class PreviewVariationOut(Wire):
    variation: str
    subject: RenderedSubjectOut
    body: RenderedBodyOut
    problems: list[SendProblemOut]


class PreviewStepOut(Wire):
    step: int
    variations: list[PreviewVariationOut]


class PreviewRefusalOut(Wire):
    reason: str
    remedy: str
    message: str
    token: str | None = None
    step: int | None = None
    variation: str | None = None
    part: str | None = None


class SendPreviewOut(Wire):
    lead_id: str
    campaign_id: str
    campaign_name: str
    storage_rule: str  # verbatim | prefixed | unknown
    ready: bool
    refusal: PreviewRefusalOut | None
    problems: list[SendProblemOut]
    steps: list[PreviewStepOut]


class PushResult(Wire):
    campaign_id: str
    enrolled: list[str]
    already_enrolled: list[str]
    refused: list[RefusedLead]
    leads_uploaded: int
    already_in_campaign: int
    batches: int


class AlertOut(Wire):
    """A PlusVibe SYSTEM_ALERT the workspace received (docs/CAMPAIGN-STATES.md)."""

    id: str
    alert: str  # PlusVibe's alert name, e.g. CAMPAIGN_AUTO_PAUSED, EMAIL_ACCOUNT_DISCONNECTED
    campaign_id: str | None
    campaign_name: str | None
    message: str | None
    campaign_paused: bool | None
    observed_at: datetime
    dismissed_at: datetime | None
    dismissed_by: str | None
    raw_payload: dict[str, Any]


class CampaignOut(Wire):
    id: str
    name: str
    status: str
    steps: int
    campaign_type: str = ""
    # Whether a push may enrol leads into it now; when not, `reason` (the push's 409 reason) and `message` say why.
    can_take_leads: bool = True
    reason: str | None = None
    message: str | None = None
    alert: AlertOut | None = None  # its newest open PlusVibe alert (an auto-pause while it is still paused)
    # How its copy is written (docs/COPY-SETTINGS.md): the tone, where it comes from (campaign | workspace |
    # built-in), and the step count (the campaign's own unless one was chosen).
    copy_tone: str = "consultative"
    copy_tone_source: str = "built-in"
    copy_steps: int = 1
    copy_steps_chosen: bool = False


class IntegrationOut(Wire):
    configured: bool
    key_valid: bool | None
    workspace_id: str | None
    workspace_name: str | None
    error: str | None = None


_KEY_TEXT = re.compile(r"[\x21-\x7e]+")


class PlusVibeKeyIn(WireIn):
    """A PlusVibe API key as typed in: a `SecretStr` from here on (no repr, log or error shows it), printable
    ASCII without spaces (a pasted newline or space is refused, not stored)."""

    api_key: SecretStr = Field(min_length=8, max_length=200)

    @field_validator("api_key")
    @classmethod
    def _printable(cls, value: SecretStr) -> SecretStr:
        if not _KEY_TEXT.fullmatch(value.get_secret_value()):
            raise ValueError("a PlusVibe API key is printable ASCII without spaces")
        return value


class PlusVibeConnectIn(PlusVibeKeyIn):
    workspace_id: str = Field(min_length=1, max_length=100)


class PlusVibeWorkspaceOut(Wire):
    id: str
    name: str


class PlusVibeIntegrationOut(Wire):
    """A workspace's PlusVibe integration as an operator sees it: the key only masked (its last four characters).
    `source`: `integration` (connected here), `environment` (the deployment's env key, until one is connected) or
    `none`."""

    source: Literal["integration", "environment", "none"]
    connected: bool
    plusvibe_workspace_id: str
    plusvibe_workspace_name: str
    key_masked: str
    version: int
    connected_at: datetime | None
    verified_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    # The workspace's PlusVibe webhook: `registered` (PlusVibe posts this workspace's events to `webhook_url`),
    # `not_registered` (connect or test to register it) or `not_configured` (the deployment has no public webhook
    # URL, LEADS_WEBHOOK_BASE_URL: hooks are registered by hand). `webhook_error`: what went wrong last time.
    webhook_status: Literal["registered", "not_registered", "not_configured"]
    webhook_url: str
    webhook_registered_at: datetime | None
    webhook_error: str | None


class BulkAuditIn(WireIn):
    lead_ids: list[str] = Field(min_length=1, max_length=500)


class AuditStartOut(Wire):
    lead_id: str
    audit_run_id: str


class AuditRefusedOut(Wire):
    lead_id: str
    reason: str
    message: str


class BulkAuditOut(Wire):
    started: list[AuditStartOut]
    refused: list[AuditRefusedOut]


class Accepted(Wire):
    status: Literal["accepted"] = "accepted"
    audit_run_id: str | None = None
    request_id: str | None = None
