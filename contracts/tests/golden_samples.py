"""The events of the golden corpus, as producers build them: one small story (a bakery in Berlin is imported,
audited, written back, enrolled, replies) told with fixed ids and fixed instants, so the generator is
deterministic and a reviewer can read every fixture as something the platform really emits.

Each event type has at least a `minimal` variant (every optional field left out or null, as the producer
serialises it: nulls and defaults included) and a `full` one; where one realistic event cannot fill every
optional field (an activity is a reply *or* a bounce), further named variants fill the rest. The golden test
checks that, across its fixtures, every optional field of every event type is filled in at least once.

The builders build instances of the CURRENT models. They only run for a fixture that is not committed yet
(a new type, version or variant): the files already written are frozen, whatever these builders say today.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from contracts.audits import AuditCompleted, AuditErrorKind, AuditFailed, AuditStarted
from contracts.common import (
    AuditProfile,
    CategoryScores,
    Contact,
    LeadSnapshot,
    LinkedAudit,
    OutboundWriteback,
    PlusVibeLeadData,
)
from contracts.copy_settings import CopySettingsChanged
from contracts.envelope import EventData
from contracts.integrations import PlusVibeIntegrationChanged
from contracts.leads import (
    AuditRequested,
    LeadCompletedInCampaign,
    LeadPushed,
    LeadRemovedFromCampaign,
    LeadSendAtRisk,
    LeadStatusChanged,
    LeadUpserted,
    SendProblem,
    WritebackRequested,
)
from contracts.status import LeadStatus
from contracts.unibox import EmailActivityReceived, ReplySent, ThreadMarkedRead
from contracts.writeback import WritebackCompleted, WritebackFailed


def fixed_uuid(name: str) -> uuid.UUID:
    """A version-4-shaped UUID derived from `name`: looks like the ids producers draw, never changes."""
    return uuid.UUID(hashlib.sha256(f"golden:{name}".encode()).hexdigest()[:32], version=4)


@dataclass(frozen=True)
class Sample:
    """One event as a producer publishes it: the body plus what the producer passes to `new_envelope`, and the
    trace context current at publication (`traceparent`, W3C) that the outbox copies into the headers."""

    data: EventData
    occurred_at: datetime
    workspace_id: str | None = None
    correlation_id: uuid.UUID | None = None
    causation_event_id: uuid.UUID | None = None
    traceparent: str | None = None


# --- the story's fixed facts -------------------------------------------------------------------------------

T0: Final = datetime(2026, 11, 27, 10, 15, 0, 120_431, tzinfo=UTC)  # the operator presses "Start audit"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


LEAD: Final = fixed_uuid("lead:mueller-baeckerei")
NEW_LEAD: Final = fixed_uuid("lead:nordlicht-optik")  # just imported: nothing known but the row itself
AUDIT_RUN: Final = fixed_uuid("audit-run:mueller-baeckerei:1")
WRITEBACK_REQUEST: Final = fixed_uuid("writeback-request:mueller-baeckerei:1")
REPLY: Final = fixed_uuid("reply:mueller-baeckerei:1")
CORRELATION: Final = fixed_uuid("correlation:start-audit")
WORKSPACE: Final = "66a1f0c2e4b0a91d2c3e4f50"
CAMPAIGN: Final = "6701b2c3d4e5f60718293a4b"
DOMAIN: Final = "mueller-baeckerei.de"
EMAIL: Final = "anna.mueller@mueller-baeckerei.de"
OPERATOR: Final = "operator:dashboard"
REPORT_URL: Final = "https://reports.outreach.example/r/Zx81kq"
TRACEPARENT: Final = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def event_id(stem: str) -> uuid.UUID:
    """The event id of the fixture `stem` (`<EventType>.v<N>.<variant>`): unique per file, and other fixtures
    can name it as their cause."""
    return fixed_uuid(f"event:{stem}")


PROFILE: Final = AuditProfile(
    audit_grade="C", audit_score="74", audit_url=REPORT_URL, audit_date="2026-11-27",
    top_issue="Visitors see a 'Not secure' warning", second_issue="Homepage has no meta description",
    issues_found="7", seo_score="80", performance_score="65", security_score="40", accessibility_score="90",
    mobile_ready="yes", load_time_s="1.9", https_status="no_redirect", ssl_days_left="61",
    meta_description_status="missing", h1_status="ok", email_auth_status="none",
)
# The merge variables writeback builds for a two-step campaign: the profile plus generated copy (with the
# characters that need escaping in JSON: quotes, newlines, non-ASCII).
VARIABLES: Final[dict[str, str]] = {
    **PROFILE.model_dump(),
    "email_subject": "Müller & Söhne: a \"Not secure\" warning on your homepage",
    "email_body": "Hallo Anna,\n\nvisitors of mueller-baeckerei.de see a 'Not secure' warning before the menu.",
    "email_cta": "Shall I send you the 2-minute fix?",
    "email_subject_1": "Müller & Söhne: a \"Not secure\" warning on your homepage",
    "email_body_1": "Hallo Anna,\n\nvisitors of mueller-baeckerei.de see a 'Not secure' warning before the menu.",
    "email_cta_1": "Shall I send you the 2-minute fix?",
    "email_subject_2": "Re: the warning on mueller-baeckerei.de",
    "email_body_2": "Anna, one more thing: your homepage has no meta description, so Google guesses one.",
    "email_cta_2": "Worth a 10-minute call this week?",
}


def _snapshot(**changes: object) -> LeadSnapshot:
    """The bakery lead as leads last stored it: audited, written back, enrolled, replied to."""
    full = LeadSnapshot(
        lead_id=LEAD,
        version=9,
        company_name="Müller & Söhne Bäckerei GmbH",
        domain=DOMAIN,
        contact=Contact(first_name="Anna", last_name="Müller", email=EMAIL, title="Inhaberin", phone="+49 30 1234567"),
        notes="Met at the Grüne Woche stand; prefers e-mail over calls.\nAsk about the second shop in Pankow.",
        status=LeadStatus.REPLIED,
        campaign_id=CAMPAIGN,
        audit=LinkedAudit(audit_run_id=AUDIT_RUN, status="completed", grade="C", score=74,
                          top_issue="Visitors see a 'Not secure' warning",
                          summary="The site works on phones but sends visitors to plain HTTP.", report_url=REPORT_URL),
        plusvibe=PlusVibeLeadData(
            label="INTERESTED", reply_sentiment="POSITIVE",
            last_email_subject="Re: the warning on mueller-baeckerei.de",
            last_outbound_writeback=OutboundWriteback(audit_run_id=AUDIT_RUN, variables=VARIABLES, delivered=True,
                                                      applied_at=at(95)),
        ),
        created_at=datetime(2026, 11, 20, 8, 2, 11, 503_118, tzinfo=UTC),
        updated_at=at(3600),
    )
    return full.model_copy(update=changes)


def _new_lead_snapshot(**changes: object) -> LeadSnapshot:
    return LeadSnapshot(lead_id=NEW_LEAD, version=1, status=LeadStatus.NEW, created_at=at(-600),
                        updated_at=at(-600)).model_copy(update=changes)


def _in_story(data: EventData, seconds: float, *, cause: str | None = None) -> Sample:
    """A `full` event: in the workspace, correlated with the operator's request, caused by the event of fixture
    `cause` (a file stem), published under a trace."""
    return Sample(data=data, occurred_at=at(seconds), workspace_id=WORKSPACE, correlation_id=CORRELATION,
                  causation_event_id=event_id(cause) if cause else None, traceparent=TRACEPARENT)


def _bare(data: EventData, seconds: float) -> Sample:
    """A `minimal` event: no workspace, no correlation, no cause, no trace."""
    return Sample(data=data, occurred_at=at(seconds))


# --- leads ---------------------------------------------------------------------------------------------------

def lead_upserted() -> dict[str, Sample]:
    return {
        "minimal": _bare(LeadUpserted(lead_id=NEW_LEAD, lead=_new_lead_snapshot()), -600),
        "full": _in_story(LeadUpserted(lead_id=LEAD, lead=_snapshot()), 3600, cause="EmailActivityReceived.v1.full"),
        "deleted": _bare(LeadUpserted(lead_id=NEW_LEAD, lead=_new_lead_snapshot(version=2, updated_at=at(7200)),
                                      deleted=True), 7200),
        # `sent` is the deprecated status old rows and old events still carry (contracts.status).
        "legacy-status": _bare(LeadUpserted(lead_id=LEAD, lead=_snapshot(version=4, status=LeadStatus.SENT_LEGACY,
                                                                         plusvibe=None, updated_at=at(-86_400))),
                               -86_400),
    }


def lead_status_changed() -> dict[str, Sample]:
    return {
        "minimal": _bare(LeadStatusChanged(lead_id=NEW_LEAD, from_status=None, to_status=LeadStatus.NEW,
                                           actor="import:csv", reason="", version=1, changed_at=at(-600)), -600),
        "full": _in_story(LeadStatusChanged(lead_id=LEAD, from_status=LeadStatus.EMAIL_SENT,
                                            to_status=LeadStatus.REPLIED, actor="plusvibe:webhook",
                                            reason="email_replied", version=9, changed_at=at(3600)),
                          3600, cause="EmailActivityReceived.v1.full"),
    }


def audit_requested() -> dict[str, Sample]:
    body = AuditRequested(lead_id=LEAD, audit_run_id=AUDIT_RUN, domain=DOMAIN, requested_at=T0, requested_by=OPERATOR)
    return {"minimal": _bare(body, 0), "full": _in_story(body, 0)}


def writeback_requested() -> dict[str, Sample]:
    return {
        "minimal": _bare(WritebackRequested(lead_id=LEAD, request_id=WRITEBACK_REQUEST, campaign_id=CAMPAIGN,
                                            requested_by=OPERATOR, requested_at=at(120)), 120),
        "full": _in_story(WritebackRequested(lead_id=LEAD, request_id=WRITEBACK_REQUEST, campaign_id=CAMPAIGN,
                                             audit_run_id=AUDIT_RUN, requested_by=OPERATOR, requested_at=at(120)), 120),
        # Carrying the copy setting in force when the operator pressed.
        "full-copy": _in_story(WritebackRequested(lead_id=LEAD, request_id=WRITEBACK_REQUEST, campaign_id=CAMPAIGN,
                                                  audit_run_id=AUDIT_RUN, requested_by=OPERATOR, requested_at=at(121),
                                                  tone="direct", steps=3), 121),
    }


def lead_pushed() -> dict[str, Sample]:
    body = LeadPushed(lead_id=LEAD, campaign_id=CAMPAIGN, email=EMAIL, variables=VARIABLES, pushed_at=at(150))
    return {"minimal": _bare(body, 150), "full": _in_story(body, 150)}


def lead_removed_from_campaign() -> dict[str, Sample]:
    body = LeadRemovedFromCampaign(lead_id=LEAD, campaign_id=CAMPAIGN, email=EMAIL, removed_at=at(9000))
    return {"minimal": _bare(body, 9000), "full": _in_story(body, 9000)}


def lead_completed_in_campaign() -> dict[str, Sample]:
    body = LeadCompletedInCampaign(lead_id=LEAD, campaign_id=CAMPAIGN, email=EMAIL, completed_at=at(8000))
    return {"minimal": _bare(body, 8000), "full": _in_story(body, 8000)}


def lead_send_at_risk() -> dict[str, Sample]:
    problems = [SendProblem(token="email_body_2", step=2, variation="A", part="body", reason="variables_empty"),
                SendProblem(token="opening_line", step=1, variation="B", part="subject",
                            reason="template_variable_unknown")]
    return {
        "minimal": _bare(LeadSendAtRisk(lead_id=LEAD, campaign_id=CAMPAIGN, detected_at=at(500)), 500),
        "full": _in_story(LeadSendAtRisk(lead_id=LEAD, campaign_id=CAMPAIGN, problems=problems,
                                         writeback_requested=True, detected_at=at(500)), 500),
        "resolved": _bare(LeadSendAtRisk(lead_id=LEAD, campaign_id=CAMPAIGN, resolved=True, detected_at=at(900)), 900),
    }


# --- audits --------------------------------------------------------------------------------------------------

def audit_started() -> dict[str, Sample]:
    body = AuditStarted(lead_id=LEAD, audit_run_id=AUDIT_RUN, domain=DOMAIN, requested_at=T0, started_at=at(2))
    return {"minimal": _bare(body, 2), "full": _in_story(body, 2, cause="AuditRequested.v1.full")}


def audit_completed() -> dict[str, Sample]:
    full = AuditCompleted(lead_id=LEAD, audit_run_id=AUDIT_RUN, domain=DOMAIN, requested_at=T0, completed_at=at(41),
                          grade="C", score=74,
                          category_scores=CategoryScores(seo=80, performance=65, security=40, mobile=90,
                                                         accessibility=90),
                          top_issue=PROFILE.top_issue, second_issue=PROFILE.second_issue,
                          summary="The site works on phones but sends visitors to plain HTTP.", report_url=REPORT_URL,
                          profile=PROFILE)
    # An F: a site failing every category (the lowest grade and scores of 0 must keep decoding).
    failing = full.model_copy(update={
        "grade": "F", "score": 0, "category_scores": CategoryScores(seo=0, performance=0, security=0, mobile=0,
                                                                    accessibility=0),
        "profile": PROFILE.model_copy(update={
            "audit_grade": "F", "audit_score": "0", "seo_score": "0", "performance_score": "0", "security_score": "0",
            "accessibility_score": "0", "mobile_ready": "no", "https_status": "no_https"}),
    })
    return {"minimal": _bare(failing, 41), "full": _in_story(full, 41, cause="AuditRequested.v1.full")}


def audit_failed() -> dict[str, Sample]:
    def failed(kind: AuditErrorKind, message: str) -> AuditFailed:
        return AuditFailed(lead_id=LEAD, audit_run_id=AUDIT_RUN, domain=DOMAIN, requested_at=T0, failed_at=at(30),
                           error_kind=kind, error_message=message)

    return {"minimal": _bare(failed("dns_failure", f"{DOMAIN}: NXDOMAIN"), 30),
            "full": _in_story(failed("timeout", f"{DOMAIN}: no response within 20 s (3 attempts)"), 30,
                              cause="AuditRequested.v1.full")}


# --- writeback -----------------------------------------------------------------------------------------------

def writeback_completed() -> dict[str, Sample]:
    return {
        # Not linked to a campaign yet: the variables are built and stored, nothing is delivered.
        "minimal": _bare(WritebackCompleted(lead_id=LEAD, audit_run_id=AUDIT_RUN, audit_requested_at=T0,
                                            variables=VARIABLES, delivered=False, steps=2, completed_at=at(60)), 60),
        "full": _in_story(WritebackCompleted(lead_id=LEAD, audit_run_id=AUDIT_RUN, audit_requested_at=T0,
                                             variables=VARIABLES, delivered=True, campaign_id=CAMPAIGN, steps=2,
                                             completed_at=at(125), request_id=WRITEBACK_REQUEST),
                          125, cause="WritebackRequested.v1.full"),
        # Written in the tone its campaign's copy setting chose (CopySettingsChanged).
        "full-tone": _in_story(WritebackCompleted(lead_id=LEAD, audit_run_id=AUDIT_RUN, audit_requested_at=T0,
                                                  variables=VARIABLES, delivered=True, campaign_id=CAMPAIGN, steps=2,
                                                  completed_at=at(130), request_id=WRITEBACK_REQUEST, tone="direct"),
                               130, cause="WritebackRequested.v1.full"),
    }


def writeback_failed() -> dict[str, Sample]:
    return {
        "minimal": _bare(WritebackFailed(lead_id=LEAD, audit_run_id=AUDIT_RUN, audit_requested_at=T0,
                                         error="PlusVibe answered 503 Service Unavailable", attempts=0,
                                         failed_at=at(60)), 60),
        "full": _in_story(WritebackFailed(lead_id=LEAD, audit_run_id=AUDIT_RUN, audit_requested_at=T0,
                                          error="PlusVibe answered 429 Too Many Requests (retry budget spent)",
                                          attempts=6, failed_at=at(725), request_id=WRITEBACK_REQUEST),
                          725, cause="WritebackRequested.v1.full"),
    }


# --- unibox --------------------------------------------------------------------------------------------------

def _webhook(event: str, **fields: object) -> dict[str, object]:
    """A PlusVibe webhook body as unibox stores it (flat, PlusVibe's own field names)."""
    return {"webhook_event": event, "_id": "6712c0ffee0ddba11de1e7e5", "lead_id": "6712c0ffee0ddba11de1e7e5",
            "email": EMAIL, "first_name": "Anna", "company_name": "Müller & Söhne Bäckerei GmbH",
            "workspace_id": WORKSPACE, "workspace_name": "Outreach Berlin", "camp_id": CAMPAIGN,
            "campaign_id": CAMPAIGN, "campaign_name": "Bakeries Q4", **fields}


def email_activity_received() -> dict[str, Sample]:
    replied = _webhook("ALL_EMAIL_REPLIES", label="INTERESTED", sentiment="POSITIVE", status="REPLIED",
                       last_email_id="6712d00d1e5ca1ab1e000003", last_thread_id="6712d00d1e5ca1ab1e000001",
                       last_lead_reply="<p>Ja, gerne – schicken Sie mir den Fix.</p>",
                       last_lead_reply_subject="Re: the warning on mueller-baeckerei.de",
                       replied_date="2026-11-27T11:14:58.000Z", is_reply=True, score=3.5, tags=["bakery", "berlin"],
                       custom={"audit_grade": "C"}, bounce_reason=None)
    return {
        # A webhook of a kind unibox does not know, for no lead it knows: kept and emitted as `other`.
        "minimal": _bare(EmailActivityReceived(lead_id=None, activity="other", webhook_event="BRAND_NEW_EVENT",
                                               observed_at=at(200), raw_payload={"webhook_event": "BRAND_NEW_EVENT"}),
                         200),
        "full": _in_story(EmailActivityReceived(lead_id=LEAD, activity="replied", webhook_event="ALL_EMAIL_REPLIES",
                                                email=EMAIL, campaign_id=CAMPAIGN, label="INTERESTED",
                                                sentiment="POSITIVE", subject="Re: the warning on mueller-baeckerei.de",
                                                observed_at=datetime(2026, 11, 27, 11, 14, 58, tzinfo=UTC),
                                                raw_payload=replied), 3598),
        "bounced": Sample(data=EmailActivityReceived(lead_id=LEAD, activity="bounced", webhook_event="BOUNCED_EMAIL",
                                                     email=EMAIL, campaign_id=CAMPAIGN, is_camp_paused=True,
                                                     observed_at=at(400),
                                                     raw_payload=_webhook("BOUNCED_EMAIL", is_camp_paused=True,
                                                                          bounce_reason="550 5.1.1 user unknown")),
                          occurred_at=at(400), workspace_id=WORKSPACE),
        "system-alert": Sample(data=EmailActivityReceived(lead_id=None, activity="system_alert",
                                                          webhook_event="SYSTEM_ALERT", campaign_id=CAMPAIGN,
                                                          is_camp_paused=True, alert="CAMPAIGN_AUTO_PAUSED",
                                                          observed_at=at(450),
                                                          raw_payload={"webhook_event": "SYSTEM_ALERT",
                                                                       "alert": "CAMPAIGN_AUTO_PAUSED",
                                                                       "campaign_id": CAMPAIGN,
                                                                       "workspace_id": WORKSPACE}),
                               occurred_at=at(450), workspace_id=WORKSPACE),
    }


def reply_sent() -> dict[str, Sample]:
    return {
        "minimal": _bare(ReplySent(reply_id=REPLY, lead_id=None, reply_to_id="6712d00d1e5ca1ab1e000003",
                                   from_address="hello@outreach.example", to_address=EMAIL, subject="",
                                   plusvibe_email_id=None, sent_at=at(3900)), 3900),
        "full": _in_story(ReplySent(reply_id=REPLY, lead_id=LEAD, reply_to_id="6712d00d1e5ca1ab1e000003",
                                    from_address="jonas@outreach.example", to_address=EMAIL,
                                    subject="Re: the warning on mueller-baeckerei.de",
                                    plusvibe_email_id="6712d00d1e5ca1ab1e000004", sent_at=at(3900)), 3900),
    }


def thread_marked_read() -> dict[str, Sample]:
    return {
        "minimal": _bare(ThreadMarkedRead(thread_id="6712d00d1e5ca1ab1e000001", lead_id=None, marked_at=at(3700)),
                         3700),
        "full": _in_story(ThreadMarkedRead(thread_id="6712d00d1e5ca1ab1e000001", lead_id=LEAD, marked_at=at(3700)),
                          3700),
    }


# --- integrations --------------------------------------------------------------------------------------------

# A Fernet token's shape (version byte, timestamp, IV, ciphertext, HMAC; url-safe base64): the key is only ever
# sealed on the wire. A fixed text, so the fixture is deterministic; it opens with no KEK.
SEALED_KEY: Final = ("gAAAAABnRv2k4Xq0b3lT2mV9cW1yZXR1cm5zLW5vdGhpbmctdXNlZnVsLXdpdGhvdXQtdGhlLWtlaw"
                     "SGVsbG8tcmV2aWV3ZXI9PT0tdGhpcy1pcy1hLWZpeHR1cmUtbm90LWEta2V5LS0tLQ==")
SEALED_WEBHOOK_SECRET: Final = ("gAAAAABnRw1cd2ViaG9vay1zZWNyZXQtZml4dHVyZS1ub3QtYS1yZWFsLXRva2VuLW9wZW5z"
                                "LW5vdGhpbmctd2l0aG91dC10aGUta2VrLS0tLS0tLS0tLS0tLS0tLQ==")


def plusvibe_integration_changed() -> dict[str, Sample]:
    return {
        "minimal": _bare(PlusVibeIntegrationChanged(workspace="default", connected=False, version=2,
                                                    changed_at=at(-7200)), -7200),
        "full": _in_story(PlusVibeIntegrationChanged(workspace="default", connected=True, plusvibe_workspace_id=WORKSPACE,
                                                     sealed_api_key=SEALED_KEY, key_fingerprint="3f9a1c07d2e4b6a8",
                                                     version=1, changed_at=at(-86400)), -86400),
        "full-webhook": _in_story(PlusVibeIntegrationChanged(
            workspace="default", connected=True, plusvibe_workspace_id=WORKSPACE, sealed_api_key=SEALED_KEY,
            key_fingerprint="3f9a1c07d2e4b6a8", sealed_webhook_secret=SEALED_WEBHOOK_SECRET, version=3,
            changed_at=at(-3600)), -3600),
    }


def copy_settings_changed() -> dict[str, Sample]:
    return {
        # The workspace default (campaign_id "").
        "minimal": _bare(CopySettingsChanged(workspace="default", tone="friendly", version=1,
                                             changed_at=at(-7000)), -7000),
        "full": _in_story(CopySettingsChanged(workspace="default", campaign_id=CAMPAIGN, tone="direct", steps=4,
                                              version=2, changed_at=at(-6000)), -6000),
    }


# Event type → its variants. A registered type missing here stops the generator (contracts.registry).
SAMPLES: Final[dict[str, Callable[[], dict[str, Sample]]]] = {
    "LeadUpserted": lead_upserted,
    "LeadStatusChanged": lead_status_changed,
    "AuditRequested": audit_requested,
    "WritebackRequested": writeback_requested,
    "LeadPushed": lead_pushed,
    "LeadRemovedFromCampaign": lead_removed_from_campaign,
    "LeadCompletedInCampaign": lead_completed_in_campaign,
    "LeadSendAtRisk": lead_send_at_risk,
    "AuditStarted": audit_started,
    "AuditCompleted": audit_completed,
    "AuditFailed": audit_failed,
    "WritebackCompleted": writeback_completed,
    "WritebackFailed": writeback_failed,
    "EmailActivityReceived": email_activity_received,
    "ReplySent": reply_sent,
    "ThreadMarkedRead": thread_marked_read,
    "PlusVibeIntegrationChanged": plusvibe_integration_changed,
    "CopySettingsChanged": copy_settings_changed,
}
