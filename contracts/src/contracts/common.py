"""Value objects shared by several events."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from contracts.status import LeadStatus

NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]
Grade = Annotated[str, StringConstraints(pattern=r"^[ABCDF]$")]


class ValueObject(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Contact(ValueObject):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    title: str | None = None
    phone: str | None = None


class AuditProfile(ValueObject):
    """The 18 merge variables of the slim profile (contracts.profile), every value a non-empty string."""

    audit_grade: Grade
    audit_score: NonEmptyStr
    audit_url: NonEmptyStr
    audit_date: NonEmptyStr
    top_issue: NonEmptyStr
    second_issue: NonEmptyStr
    issues_found: NonEmptyStr
    seo_score: NonEmptyStr
    performance_score: NonEmptyStr
    security_score: NonEmptyStr
    accessibility_score: NonEmptyStr
    mobile_ready: NonEmptyStr
    load_time_s: NonEmptyStr
    https_status: NonEmptyStr
    ssl_days_left: NonEmptyStr
    meta_description_status: NonEmptyStr
    h1_status: NonEmptyStr
    email_auth_status: NonEmptyStr


class CategoryScores(ValueObject):
    seo: int = Field(ge=0, le=100)
    performance: int = Field(ge=0, le=100)
    security: int = Field(ge=0, le=100)
    mobile: int = Field(ge=0, le=100)
    accessibility: int = Field(ge=0, le=100)


class LinkedAudit(ValueObject):
    """The audit run a lead links to, as the leads service last stored it."""

    audit_run_id: UUID
    status: str
    grade: Grade | None = None
    score: int | None = None
    top_issue: str | None = None
    summary: str | None = None
    report_url: str | None = None


class OutboundWriteback(ValueObject):
    audit_run_id: UUID
    variables: dict[str, str]
    delivered: bool
    applied_at: AwareDatetime


class PlusVibeLeadData(ValueObject):
    """Enrichment kept from PlusVibe activity (seed: "PlusVibe enrichment")."""

    label: str | None = None
    reply_sentiment: str | None = None
    last_email_subject: str | None = None
    last_outbound_writeback: OutboundWriteback | None = None


class LeadSnapshot(ValueObject):
    """A full copy of a lead as the leads service holds it at `version`."""

    lead_id: UUID
    version: int = Field(ge=1)
    company_name: str | None = None
    domain: str | None = None
    contact: Contact = Contact()
    notes: str | None = None
    status: LeadStatus
    campaign_id: str | None = None
    audit: LinkedAudit | None = None
    plusvibe: PlusVibeLeadData | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
