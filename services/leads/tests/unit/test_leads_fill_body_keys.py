"""Body keys filled from the stored profile before the guard runs."""

from __future__ import annotations

from contracts.profile import PROFILE_KEYS
from copywriter import LeadFacts, Tone, body_variables
from leads.domain.fill_body_keys import fill_body_keys

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
