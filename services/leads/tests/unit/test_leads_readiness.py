"""The readiness guard: one test per refusal reason (docs/TEMPLATES.md), the dry run of the send (docs/TEMPLATES.md)
on the constructs operators write, and what "populated" means for audit values."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from contracts.profile import PROFILE_KEYS, body_keys
from contracts.status import READY_STATUSES, LeadStatus
from copywriter import LeadFacts, Tone
from leads.domain.lead_payload import LeadFields
from leads.domain.readiness import (
    LeadSnapshot,
    ReadinessResult,
    Ready,
    RefusalReason,
    Refused,
    Remedy,
    SendTarget,
    check_readiness,
)
from leads.domain.send_dry_run.campaign import CampaignTemplates, Variation
from leads.domain.send_dry_run.context import StorageRule, sender_context

PROFILE: dict[str, str] = {
    "audit_grade": "C",
    "audit_score": "74",
    "audit_url": "https://reports.example.test/r/Zx81kq",
    "audit_date": "2026-11-27",
    "top_issue": "Visitors see a 'Not secure' warning",
    "second_issue": "Homepage has no meta description",
    "issues_found": "7",
    "seo_score": "80",
    "performance_score": "65",
    "security_score": "40",
    "accessibility_score": "90",
    "mobile_ready": "yes",
    "load_time_s": "1.9",
    "https_status": "no_redirect",
    "ssl_days_left": "61",
    "meta_description_status": "missing",
    "h1_status": "ok",
    "email_auth_status": "none",
}
BODY = {key: f"text for {key}" for key in body_keys(3)}
VARIABLES: dict[str, str] = PROFILE | BODY
EMAIL = "anna@acme.test"
FIELDS = LeadFields(email=EMAIL, first_name="Anna", last_name="Berg", company_name="Acme", domain="acme.test",
                    title="Head of Marketing", phone="+44 20 7946 0000")
FACTS = LeadFacts(company_name="Acme", domain="acme.test", first_name="Anna")


def lead(
    status: LeadStatus | None = LeadStatus.EMAIL_GENERATED,
    *,
    email: str | None = EMAIL,
    variables: Mapping[str, object] | None = None,
    fields: LeadFields | None = None,
    no_variables: bool = False,
) -> LeadSnapshot:
    base = fields or FIELDS
    chosen = None if no_variables else (VARIABLES if variables is None else variables)
    return LeadSnapshot(status, LeadFields(**{**base.__dict__, "email": email or ""}), chosen)


def campaign(*steps: list[tuple[str, str]]) -> CampaignTemplates | None:
    return CampaignTemplates.compile([[Variation(chr(ord("A") + i), subject, body) for i, (subject, body) in
                                       enumerate(step)] for step in steps])


def judge(snapshot: LeadSnapshot, templates: CampaignTemplates | None = None, *,
          rule: StorageRule | None = StorageRule.VERBATIM, steps: int = 1,
          senders: tuple[Mapping[str, str], ...] = (sender_context("Alex", "Moreau", "alex@sender.test"),),
          ) -> ReadinessResult:
    return check_readiness(snapshot, SendTarget(templates, steps, rule, senders), facts=FACTS, tone=Tone.DIRECT)


def refusal(result: ReadinessResult) -> tuple[RefusalReason, Remedy]:
    assert isinstance(result, Refused), result
    return result.reason, result.remedy


# --- table rows -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [None, LeadStatus.NEW, LeadStatus.AUDIT_QUEUED])
def test_refuses_push_when_not_audited(status: LeadStatus | None) -> None:
    result = judge(lead(status))
    assert refusal(result) == (RefusalReason.NOT_AUDITED, Remedy.START_AUDIT)
    assert isinstance(result, Refused)
    assert result.message == "Run an audit on the lead first via Start audit (domain)."


def test_refuses_push_when_writeback_missing() -> None:
    result = judge(lead(LeadStatus.AUDIT_COMPLETE, no_variables=True))
    assert refusal(result) == (RefusalReason.WRITEBACK_MISSING, Remedy.RE_AUDIT)


def test_refuses_audit_complete_even_with_variables_of_an_older_audit() -> None:
    result = judge(lead(LeadStatus.AUDIT_COMPLETE))
    assert refusal(result) == (RefusalReason.WRITEBACK_MISSING, Remedy.RE_AUDIT)


@pytest.mark.parametrize("status", sorted(READY_STATUSES))
@pytest.mark.parametrize("variables", [None, {}])
def test_refuses_ready_set_without_stored_variables(status: LeadStatus, variables: dict[str, str] | None) -> None:
    result = judge(lead(status, variables=variables, no_variables=variables is None))
    assert refusal(result) == (RefusalReason.VARIABLES_MISSING, Remedy.RE_AUDIT)
    assert isinstance(result, Refused)
    assert "plusvibeLeadData.lastOutboundWriteback.variables" in result.message


def test_refuses_bounced_lead() -> None:
    result = judge(lead(LeadStatus.BOUNCED))
    assert refusal(result) == (RefusalReason.BOUNCED, Remedy.RE_AUDIT_OR_REMOVE)


@pytest.mark.parametrize("email", [None, "", "   ", "not-an-address", "anna@", "anna @acme.test"])
def test_refuses_lead_without_usable_contact_email(email: str | None) -> None:
    result = judge(lead(email=email))
    assert refusal(result) == (RefusalReason.CONTACT_EMAIL_MISSING, Remedy.EDIT_LEAD)


@pytest.mark.parametrize("status", sorted(READY_STATUSES))
def test_ready_set_with_complete_variables_is_ready(status: LeadStatus) -> None:
    assert isinstance(judge(lead(status)), Ready)


def test_legacy_sent_is_judged_as_email_sent() -> None:
    assert isinstance(judge(lead(LeadStatus.SENT_LEGACY)), Ready)
    missing = judge(lead(LeadStatus.SENT_LEGACY, no_variables=True))
    assert refusal(missing) == (RefusalReason.VARIABLES_MISSING, Remedy.RE_AUDIT)


# --- order of checks ------------------------------------------------------------------------------


def test_status_reason_comes_before_missing_email() -> None:
    result = judge(lead(LeadStatus.NEW, email=None, no_variables=True))
    assert refusal(result)[0] is RefusalReason.NOT_AUDITED


def test_missing_email_comes_before_empty_variables() -> None:
    result = judge(lead(email=None, variables=PROFILE | {"audit_grade": ""}))
    assert refusal(result)[0] is RefusalReason.CONTACT_EMAIL_MISSING


# --- campaigns whose templates cannot be read: all 18 + step-1 body keys --------------------------


def test_unknown_templates_require_all_profile_keys() -> None:
    for key in PROFILE_KEYS:
        result = judge(lead(variables=VARIABLES | {key: ""}))
        assert refusal(result) == (RefusalReason.VARIABLES_EMPTY, Remedy.RE_AUDIT)
        assert isinstance(result, Refused) and result.keys == (key,)


def test_unknown_templates_generate_missing_step_one_body_keys_from_the_profile() -> None:
    result = judge(lead(variables=PROFILE))
    assert isinstance(result, Ready)
    assert set(result.filled) == set(body_keys(1))
    assert all(result.lead_object.custom_variables[key].strip() for key in body_keys(1))


# --- what "populated" means: variables_empty ------------------------------------------------------

BAD_VALUES: list[tuple[str, object]] = [
    ("top_issue", None),
    ("top_issue", ""),
    ("top_issue", "   "),
    ("top_issue", "null"),
    ("top_issue", "None"),
    ("top_issue", "Fix {{first_name}} now"),
    ("top_issue", "x" * 91),
    ("audit_grade", "E"),
    ("audit_grade", "b"),
    ("audit_score", "101"),
    ("audit_score", "7.5"),
    ("audit_score", "-1"),
    ("seo_score", "abc"),
    ("performance_score", "1000"),
    ("security_score", ""),
    ("accessibility_score", "NaN"),
    ("issues_found", "many"),
    ("ssl_days_left", "-3"),
    ("audit_url", "http://reports.example.test/r/x"),
    ("audit_url", "https://"),
    ("audit_url", "https://reports.example.test/r/x y"),
    ("audit_url", "http://127.0.0.2.example.test/r/x"),
    ("audit_date", "2026-13-01"),
    ("audit_date", "27/11/2026"),
    ("mobile_ready", "true"),
    ("load_time_s", "1.93"),
    ("load_time_s", "2"),
    ("https_status", "ok"),
    ("meta_description_status", "present"),
    ("h1_status", "none"),
    ("email_auth_status", "null"),
    ("audit_grade", True),
    ("audit_grade", ["A"]),
]


@pytest.mark.parametrize(("key", "value"), BAD_VALUES)
def test_refuses_when_a_used_audit_variable_is_empty_or_malformed(key: str, value: object) -> None:
    templates = campaign([(f"About {{{{{key}}}}}", "<p>{{email_body_1}}</p>")])
    result = judge(lead(variables=VARIABLES | {key: value}), templates)
    assert refusal(result) == (RefusalReason.VARIABLES_EMPTY, Remedy.RE_AUDIT)
    assert isinstance(result, Refused)
    assert result.keys == (key,)
    assert key in result.message
    first = result.first
    assert first is not None and (first.step, first.variation, first.part) == (1, "A", "subject")


@pytest.mark.parametrize(("key", "value"), BAD_VALUES)
def test_the_same_value_unknown_templates_refuse_too(key: str, value: object) -> None:
    assert refusal(judge(lead(variables=VARIABLES | {key: value}))) == (RefusalReason.VARIABLES_EMPTY, Remedy.RE_AUDIT)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("email_auth_status", "none"),
        ("audit_score", 74),
        ("load_time_s", 1.9),
        ("audit_grade", " C "),
        ("ssl_days_left", "0"),
        ("audit_score", "100"),
        ("https_status", "expiring_cert"),
        ("audit_url", "http://127.0.0.1:8000/r/Zx81kq"),  # a local deployment's own report page
    ],
)
def test_accepts_well_typed_values(key: str, value: object) -> None:
    assert isinstance(judge(lead(variables=VARIABLES | {key: value})), Ready)
    assert isinstance(judge(lead(variables=VARIABLES | {key: value}), campaign([(f"{{{{{key}}}}}", "x")])), Ready)


def test_blank_or_tagged_stored_body_key_is_regenerated_not_sent() -> None:
    for value in (" ", "Hello {{first_name}}"):
        result = judge(lead(variables=VARIABLES | {"email_body": value}), campaign([("Hi", "{{email_body}}")]))
        assert isinstance(result, Ready)
        assert "{{" not in result.lead_object.custom_variables["email_body"]
        assert result.lead_object.custom_variables["email_body"].strip()
