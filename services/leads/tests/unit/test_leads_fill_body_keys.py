"""Body keys filled from the stored profile before the guard runs."""

from __future__ import annotations

from contracts.profile import PROFILE_KEYS
from contracts.status import LeadStatus
from copywriter import LeadFacts, Tone, body_variables
from leads.domain.fill_body_keys import check_push, fill_body_keys
from leads.domain.readiness import LeadSnapshot, Ready, RefusalReason, Refused

PROFILE: dict[str, str] = {
    "audit_grade": "D",
    "audit_score": "61",
    "audit_url": "https://reports.example.test/r/q9",
    "audit_date": "2026-11-27",
    "top_issue": "Visitors see a 'Not secure' warning",
    "second_issue": "Homepage has no meta description",
    "issues_found": "8",
    "seo_score": "70",
    "performance_score": "55",
    "security_score": "20",
    "accessibility_score": "85",
    "mobile_ready": "no",
    "load_time_s": "3.4",
    "https_status": "no_https",
    "ssl_days_left": "0",
    "meta_description_status": "missing",
    "h1_status": "multiple",
    "email_auth_status": "partial",
}
FACTS = LeadFacts(company_name="Acme", domain="acme.test", first_name="Anna")
STEP_ONE = body_variables(FACTS, PROFILE, tone=Tone.DIRECT, steps=1)
STORED = PROFILE | STEP_ONE  # what a writeback that knew of one step stored


def test_generates_body_keys_for_steps_the_writeback_did_not_know() -> None:
    keys = {"email_subject_3", "email_body_3", "email_cta_3", "email_body_1"}
    result = fill_body_keys(STORED, keys=keys, lead=FACTS, tone=Tone.DIRECT)
    expected = body_variables(FACTS, PROFILE, tone=Tone.DIRECT, steps=3)
    assert result.filled == ("email_body_3", "email_cta_3", "email_subject_3")
    assert all(result.variables[k] == expected[k] for k in result.filled)
    assert result.variables["email_body_1"] == STORED["email_body_1"]


def test_never_rewrites_a_populated_stored_body_key() -> None:
    stored = STORED | {"email_body_2": "Operator-approved text"}
    result = fill_body_keys(stored, keys={"email_body_2"}, lead=FACTS, tone=Tone.FRIENDLY)
    assert result.filled == ()
    assert result.variables["email_body_2"] == "Operator-approved text"


def test_step_one_alias_is_copied_not_regenerated() -> None:
    stored = dict(PROFILE) | {"email_subject_1": "Stored subject"}
    result = fill_body_keys(stored, keys={"email_subject"}, lead=FACTS, tone=Tone.FRIENDLY)
    assert result.variables["email_subject"] == "Stored subject"
    assert result.filled == ("email_subject",)


def test_blank_or_tagged_stored_body_key_is_regenerated() -> None:
    stored = STORED | {"email_body_1": "Hi {{first_name}}", "email_body": " "}
    result = fill_body_keys(stored, keys={"email_body", "email_body_1"}, lead=FACTS, tone=Tone.DIRECT)
    assert "{{" not in result.variables["email_body_1"] and result.variables["email_body"].strip()
    assert result.variables["email_body"] == result.variables["email_body_1"]


def test_profile_keys_are_never_invented() -> None:
    stored = {k: v for k, v in STORED.items() if k != "top_issue"}
    result = fill_body_keys(stored, keys={"top_issue", *PROFILE_KEYS}, lead=FACTS, tone=Tone.DIRECT)
    assert "top_issue" not in result.variables and result.filled == ()


def test_push_check_makes_a_longer_campaign_ready_from_the_stored_profile() -> None:
    snapshot = LeadSnapshot(LeadStatus.EMAIL_GENERATED, "anna@acme.test", STORED)
    placeholders = {"email_subject_2", "email_body_2", "audit_grade"}
    check = check_push(snapshot, placeholders, facts=FACTS, tone=Tone.DIRECT, steps=2)
    assert isinstance(check.result, Ready)
    assert check.filled == ("email_body_2", "email_subject_2")
    assert check.variables["email_body_2"]


def test_push_check_still_refuses_an_empty_audit_value() -> None:
    snapshot = LeadSnapshot(LeadStatus.EMAIL_GENERATED, "anna@acme.test", STORED | {"audit_score": ""})
    check = check_push(snapshot, {"audit_score", "email_body_2"}, facts=FACTS, tone=Tone.DIRECT)
    assert isinstance(check.result, Refused)
    assert check.result.reason is RefusalReason.VARIABLES_EMPTY and check.result.keys == ("audit_score",)


def test_push_check_does_not_fill_when_no_writeback_landed() -> None:
    snapshot = LeadSnapshot(LeadStatus.EMAIL_GENERATED, "anna@acme.test", None)
    check = check_push(snapshot, None, facts=FACTS, tone=Tone.DIRECT)
    assert isinstance(check.result, Refused) and check.result.reason is RefusalReason.VARIABLES_MISSING
    assert check.variables == {} and check.filled == ()


def test_push_check_with_unknown_templates_fills_step_one_keys() -> None:
    snapshot = LeadSnapshot(LeadStatus.EMAIL_SENT, "anna@acme.test", PROFILE)
    check = check_push(snapshot, None, facts=FACTS, tone=Tone.CONSULTATIVE)
    assert isinstance(check.result, Ready)
    assert set(check.filled) == {"email_subject", "email_body", "email_cta", "email_subject_1", "email_body_1", "email_cta_1"}
