"""The readiness guard: one test per row of the DESIGN §3 table, plus what "populated" means."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from contracts.profile import PROFILE_KEYS, body_keys
from contracts.status import READY_STATUSES, LeadStatus
from leads.domain.readiness import (
    LeadSnapshot,
    Ready,
    RefusalReason,
    Refused,
    Remedy,
    check_readiness,
    required_keys,
)

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


def lead(
    status: LeadStatus | None = LeadStatus.EMAIL_GENERATED,
    *,
    email: str | None = EMAIL,
    variables: Mapping[str, object] | None = None,
    contact: Mapping[str, str | None] | None = None,
) -> LeadSnapshot:
    return LeadSnapshot(status, email, VARIABLES if variables is None else variables, contact or {})


def refusal(result: Ready | Refused) -> tuple[RefusalReason, Remedy]:
    assert isinstance(result, Refused), result
    return result.reason, result.remedy


# --- table rows -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [None, LeadStatus.NEW, LeadStatus.AUDIT_QUEUED])
def test_refuses_push_when_not_audited(status: LeadStatus | None) -> None:
    result = check_readiness(lead(status), None)
    assert refusal(result) == (RefusalReason.NOT_AUDITED, Remedy.START_AUDIT)
    assert isinstance(result, Refused)
    assert result.message == "Run an audit on the lead first via Start audit (domain)."


def test_refuses_push_when_writeback_missing() -> None:
    result = check_readiness(LeadSnapshot(LeadStatus.AUDIT_COMPLETE, EMAIL, None), None)
    assert refusal(result) == (RefusalReason.WRITEBACK_MISSING, Remedy.RE_AUDIT)


def test_refuses_audit_complete_even_with_variables_of_an_older_audit() -> None:
    result = check_readiness(lead(LeadStatus.AUDIT_COMPLETE), None)
    assert refusal(result) == (RefusalReason.WRITEBACK_MISSING, Remedy.RE_AUDIT)


@pytest.mark.parametrize("status", sorted(READY_STATUSES))
@pytest.mark.parametrize("variables", [None, {}])
def test_refuses_ready_set_without_stored_variables(status: LeadStatus, variables: dict[str, str] | None) -> None:
    result = check_readiness(LeadSnapshot(status, EMAIL, variables), None)
    assert refusal(result) == (RefusalReason.VARIABLES_MISSING, Remedy.RE_AUDIT)
    assert isinstance(result, Refused)
    assert "plusvibeLeadData.lastOutboundWriteback.variables" in result.message


def test_refuses_bounced_lead() -> None:
    result = check_readiness(lead(LeadStatus.BOUNCED), None)
    assert refusal(result) == (RefusalReason.BOUNCED, Remedy.RE_AUDIT_OR_REMOVE)


@pytest.mark.parametrize("email", [None, "", "   ", "not-an-address", "anna@", "anna @acme.test"])
def test_refuses_lead_without_usable_contact_email(email: str | None) -> None:
    result = check_readiness(lead(email=email), None)
    assert refusal(result) == (RefusalReason.CONTACT_EMAIL_MISSING, Remedy.EDIT_LEAD)


@pytest.mark.parametrize("status", sorted(READY_STATUSES))
def test_ready_set_with_complete_variables_is_ready(status: LeadStatus) -> None:
    assert isinstance(check_readiness(lead(status), None), Ready)


def test_legacy_sent_is_judged_as_email_sent() -> None:
    assert isinstance(check_readiness(lead(LeadStatus.SENT_LEGACY), None), Ready)
    missing = check_readiness(LeadSnapshot(LeadStatus.SENT_LEGACY, EMAIL, None), None)
    assert refusal(missing) == (RefusalReason.VARIABLES_MISSING, Remedy.RE_AUDIT)


# --- order of checks ------------------------------------------------------------------------------


def test_status_reason_comes_before_missing_email() -> None:
    result = check_readiness(LeadSnapshot(LeadStatus.NEW, None, None), None)
    assert refusal(result)[0] is RefusalReason.NOT_AUDITED


def test_missing_email_comes_before_empty_variables() -> None:
    result = check_readiness(lead(email=None, variables=PROFILE | {"audit_grade": ""}), None)
    assert refusal(result)[0] is RefusalReason.CONTACT_EMAIL_MISSING


# --- required keys --------------------------------------------------------------------------------


def test_unknown_templates_require_all_profile_keys_and_step_one_body_keys() -> None:
    assert required_keys(None) == frozenset(PROFILE_KEYS) | frozenset(body_keys(1))


def test_known_templates_require_only_the_keys_they_use_that_we_populate() -> None:
    placeholders = {"audit_grade", "email_body_2", "first_name", "sender_first_name", "opening_line", "email"}
    assert required_keys(placeholders) == {"audit_grade", "email_body_2", "first_name"}


def test_custom_prefixed_placeholder_requires_the_stored_key() -> None:
    assert required_keys({"custom_audit_grade", "custom_email_body"}) == {"audit_grade", "email_body"}


def test_key_unused_by_the_campaign_may_be_empty() -> None:
    variables = VARIABLES | {"second_issue": ""}
    assert isinstance(check_readiness(lead(variables=variables), {"audit_grade", "top_issue"}), Ready)
    assert refusal(check_readiness(lead(variables=variables), None))[0] is RefusalReason.VARIABLES_EMPTY


def test_unknown_templates_need_step_one_body_keys() -> None:
    result = check_readiness(lead(variables=PROFILE), None)
    assert isinstance(result, Refused)
    assert result.keys == tuple(sorted(body_keys(1)))


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
    ("audit_date", "2026-13-01"),
    ("audit_date", "27/11/2026"),
    ("mobile_ready", "true"),
    ("load_time_s", "1.93"),
    ("load_time_s", "2"),
    ("https_status", "ok"),
    ("meta_description_status", "present"),
    ("h1_status", "none"),
    ("email_auth_status", "null"),
    ("email_body", "Hello {{first_name}}"),
    ("email_subject", " "),
    ("audit_grade", True),
    ("audit_grade", ["A"]),
]


@pytest.mark.parametrize(("key", "value"), BAD_VALUES)
def test_refuses_when_a_required_variable_is_empty_or_malformed(key: str, value: object) -> None:
    result = check_readiness(lead(variables=VARIABLES | {key: value}), None)
    assert refusal(result) == (RefusalReason.VARIABLES_EMPTY, Remedy.RE_AUDIT)
    assert isinstance(result, Refused)
    assert result.keys == (key,)
    assert key in result.message


def test_refuses_when_a_required_variable_is_absent() -> None:
    variables = {k: v for k, v in VARIABLES.items() if k != "h1_status"}
    result = check_readiness(lead(variables=variables), {"h1_status", "audit_grade"})
    assert isinstance(result, Refused) and result.keys == ("h1_status",)


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
    ],
)
def test_accepts_well_typed_values(key: str, value: object) -> None:
    assert isinstance(check_readiness(lead(variables=VARIABLES | {key: value}), None), Ready)


def test_contact_field_used_by_the_campaign_must_be_on_the_lead() -> None:
    placeholders = {"first_name", "company_name", "audit_grade"}
    missing = check_readiness(lead(contact={"first_name": " ", "company_name": "Acme"}), placeholders)
    assert refusal(missing) == (RefusalReason.VARIABLES_EMPTY, Remedy.EDIT_LEAD)
    assert isinstance(missing, Refused) and missing.keys == ("first_name",)
    present = check_readiness(lead(contact={"first_name": "Anna", "company_name": "Acme"}), placeholders)
    assert isinstance(present, Ready)


def test_audit_values_and_contact_fields_empty_together_ask_for_re_audit_and_name_both() -> None:
    result = check_readiness(lead(variables=VARIABLES | {"audit_grade": ""}), {"first_name", "audit_grade"})
    assert refusal(result) == (RefusalReason.VARIABLES_EMPTY, Remedy.RE_AUDIT)
    assert isinstance(result, Refused) and result.keys == ("audit_grade", "first_name")


def test_ready_result_lists_the_required_keys() -> None:
    result = check_readiness(lead(), {"audit_grade", "email_body_3"})
    assert result == Ready(frozenset({"audit_grade", "email_body_3"}))
