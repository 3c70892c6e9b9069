"""Behaviour of the pure copy generator."""

from __future__ import annotations

import pytest

from copywriter import (
    SUBJECT_MAX,
    LeadFacts,
    Tone,
    body_variables,
    generate_sequence,
    to_html,
)
from copywriter.findings import findings_from_profile

FULL_PROFILE: dict[str, str] = {
    "audit_grade": "D",
    "audit_score": "62",
    "audit_url": "https://reports.example.test/r/x7Kq2",
    "audit_date": "2026-11-01",
    "top_issue": "Visitors see a 'Not secure' warning",
    "second_issue": "Homepage takes 4.8 seconds to load",
    "issues_found": "9",
    "seo_score": "55",
    "performance_score": "40",
    "security_score": "30",
    "accessibility_score": "45",
    "mobile_ready": "no",
    "load_time_s": "4.8",
    "https_status": "no_https",
    "ssl_days_left": "0",
    "meta_description_status": "missing",
    "h1_status": "multiple",
    "email_auth_status": "none",
}
LEAD = LeadFacts(company_name="Acme Plumbing", domain="acme-plumbing.test", first_name="Anna")


def _all_text(lead: LeadFacts, profile: dict[str, str], tone: Tone, steps: int) -> str:
    return "\n".join(f"{c.subject}\n{c.body}\n{c.cta}" for c in generate_sequence(lead, profile, tone=tone, steps=steps))


@pytest.mark.parametrize("tone", list(Tone))
def test_same_inputs_give_identical_copy(tone: Tone) -> None:
    first = generate_sequence(LEAD, FULL_PROFILE, tone=tone, steps=5)
    second = generate_sequence(LeadFacts("Acme Plumbing", "acme-plumbing.test", "Anna"), dict(FULL_PROFILE), tone=tone, steps=5)
    assert first == second


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
def test_returns_one_numbered_step_per_requested_step(steps: int) -> None:
    copies = generate_sequence(LEAD, FULL_PROFILE, tone=Tone.DIRECT, steps=steps)
    assert [c.step for c in copies] == list(range(1, steps + 1))
    assert all(c.subject and c.body and c.cta for c in copies)


@pytest.mark.parametrize("steps", [0, -1])
def test_rejects_fewer_than_one_step(steps: int) -> None:
    with pytest.raises(ValueError):
        generate_sequence(LEAD, FULL_PROFILE, tone=Tone.DIRECT, steps=steps)


def test_each_step_cites_a_different_finding_in_audit_order() -> None:
    copies = generate_sequence(LEAD, FULL_PROFILE, tone=Tone.FRIENDLY, steps=5)
    assert [c.cites for c in copies][:2] == ["top_issue", "second_issue"]
    assert len({c.cites for c in copies}) == 5
    assert "visitors see a 'Not secure' warning" in copies[0].body
    assert "4.8 seconds" in copies[1].body
    assert "4.8 seconds" not in copies[0].body


def test_derived_finding_on_the_same_topic_as_an_issue_is_not_repeated() -> None:
    keys = [f.key for f in findings_from_profile(FULL_PROFILE)]
    # top_issue already says "Not secure", second_issue already talks about load time.
    assert "https_status" not in keys
    assert "performance" not in keys
    assert {"meta_description_status", "h1_status", "mobile_ready", "email_auth_status"} <= set(keys)


def test_email_auth_none_is_a_finding_not_a_missing_value() -> None:
    keys = [f.key for f in findings_from_profile({"email_auth_status": "none"})]
    assert keys == ["email_auth_status"]


def test_no_finding_sentence_repeats_when_steps_exceed_findings() -> None:
    profile = {"top_issue": "Homepage has no title", "audit_score": "71", "audit_grade": "C"}
    copies = generate_sequence(LEAD, profile, tone=Tone.CONSULTATIVE, steps=5)
    assert [c.cites for c in copies] == ["top_issue", "overview", "report", "quick_wins", "competitors"]
    assert sum("homepage has no title" in c.body for c in copies) == 1
    assert len({c.body for c in copies}) == 5


@pytest.mark.parametrize("tone", list(Tone))
def test_never_emits_merge_tag_braces(tone: Tone) -> None:
    text = _all_text(LEAD, FULL_PROFILE, tone, 5)
    assert "{{" not in text and "}}" not in text


def test_braces_in_inputs_are_removed() -> None:
    lead = LeadFacts(company_name="{{company}} Ltd", domain="{{x}}evil.test", first_name="{{first_name}}")
    profile = dict(FULL_PROFILE, top_issue="Broken {{fallback|{{first_name}}|x}} form", second_issue="}}{{")
    for tone in Tone:
        variables = body_variables(lead, profile, tone=tone, steps=4)
        assert all("{" not in v and "}" not in v for v in variables.values())
    # Whole tags are dropped: the greeting falls back instead of greeting "first_name".
    assert variables["email_body"].startswith("Hello Ltd team,\n")
    assert "reviewed evil.test" in variables["email_body"]
    assert "broken form" in variables["email_body"]


def test_tones_produce_different_copy() -> None:
    texts = {tone: _all_text(LEAD, FULL_PROFILE, tone, 3) for tone in Tone}
    assert len(set(texts.values())) == len(Tone)
    subjects = {generate_sequence(LEAD, FULL_PROFILE, tone=t, steps=1)[0].subject for t in Tone}
    assert len(subjects) == len(Tone)


@pytest.mark.parametrize("tone", list(Tone))
def test_subjects_stay_within_limit_for_long_company_names(tone: Tone) -> None:
    lead = LeadFacts(company_name="Very " * 40 + "Long Company", domain="long.test")
    for copy in generate_sequence(lead, FULL_PROFILE, tone=tone, steps=5):
        assert len(copy.subject) <= SUBJECT_MAX


def test_greets_by_first_name_and_falls_back_without_placeholder() -> None:
    named = generate_sequence(LEAD, FULL_PROFILE, tone=Tone.FRIENDLY, steps=1)[0].body
    assert named.startswith("Hi Anna,\n")
    for first_name in (None, "", "   ", "null", "{{}}"):
        lead = LeadFacts(company_name="Acme Plumbing", domain="acme-plumbing.test", first_name=first_name)
        greetings = {t: generate_sequence(lead, FULL_PROFILE, tone=t, steps=1)[0].body.split("\n")[0] for t in Tone}
        assert greetings == {Tone.FRIENDLY: "Hi there,", Tone.DIRECT: "Hello,", Tone.CONSULTATIVE: "Hello Acme Plumbing team,"}


def test_partial_and_odd_profile_never_raises() -> None:
    odd: list[dict[str, object]] = [
        {},
        {"audit_score": "abc", "load_time_s": "fast", "ssl_days_left": "-", "mobile_ready": None},
        {"audit_score": 250, "audit_grade": "Z", "audit_url": "http://plain.test/x", "top_issue": "   "},
        {"https_status": "expiring_cert", "ssl_days_left": 12, "load_time_s": 3.5, "top_issue": 42},
    ]
    for profile in odd:
        for tone in Tone:
            variables = body_variables(LeadFacts(), profile, tone=tone, steps=3)
            assert all(value.strip() for value in variables.values())
            assert "None" not in variables["email_body_1"]


def test_uses_numbers_only_when_they_are_valid() -> None:
    body = generate_sequence(LEAD, {"audit_score": "250", "audit_url": "http://plain.test"}, tone=Tone.DIRECT, steps=1)[0].body
    assert "250" not in body and "http://plain.test" not in body
    expiring = generate_sequence(LEAD, {"https_status": "expiring_cert", "ssl_days_left": "12"}, tone=Tone.DIRECT, steps=1)
    assert "expires in 12 days" in expiring[0].body


def test_step_one_mentions_score_and_report_link() -> None:
    body = generate_sequence(LEAD, FULL_PROFILE, tone=Tone.CONSULTATIVE, steps=1)[0].body
    assert "62/100 (grade D)" in body
    assert "https://reports.example.test/r/x7Kq2" in body


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
def test_body_variables_have_indexed_keys_and_step_one_aliases(steps: int) -> None:
    variables = body_variables(LEAD, FULL_PROFILE, tone=Tone.FRIENDLY, steps=steps)
    expected = {"email_subject", "email_body", "email_cta"} | {
        f"email_{field}_{n}" for field in ("subject", "body", "cta") for n in range(1, steps + 1)
    }
    assert set(variables) == expected
    for field in ("subject", "body", "cta"):
        assert variables[f"email_{field}"] == variables[f"email_{field}_1"]


def test_to_html_escapes_and_converts_line_breaks() -> None:
    assert to_html("Hi <Anna> & co,\n\nline\r\nend") == "Hi &lt;Anna&gt; &amp; co,<br><br>line<br>end"
    html = to_html(generate_sequence(LEAD, FULL_PROFILE, tone=Tone.DIRECT, steps=1)[0].body)
    assert "\n" not in html and "<br><br>" in html and "&#x27;Not secure&#x27;" in html
