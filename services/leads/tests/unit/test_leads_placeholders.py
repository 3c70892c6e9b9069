"""Extracting the merge keys a campaign's templates use."""

from __future__ import annotations

import pytest

from leads.domain.placeholders import extract_placeholders, placeholders_in


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hi {{first_name}}", {"first_name"}),
        ("Grade {{ audit_grade }} today", {"audit_grade"}),
        ("{{fallback|{{first_name}}|there}}", {"first_name"}),
        ("{{FALLBACK| {{ top_issue }} |something}}", {"top_issue"}),
        ("{{random|Hi|Hello|Hey}} {{company_name}}", {"company_name"}),
        ("{{random|a {{audit_score}}|b}}", {"audit_score"}),
        ("{{seo_score|n/a}}", {"seo_score"}),
        ("{{Audit_Grade}}", {"audit_grade"}),
        ('{{pipl_date "2 days from now" "MMMM Do YYYY"}}', set()),
        ("{% if first_name != blank %}x{% endif %}", set()),
        ("{{}} {{ }} {{audit_url", set()),
        ("<p>{{email_body_2}}</p><p>{{email_cta_2}}</p>", {"email_body_2", "email_cta_2"}),
        ("", set()),
        (None, set()),
    ],
)
def test_extracts_keys_from_every_supported_tag_form(template: str | None, expected: set[str]) -> None:
    assert extract_placeholders(template) == frozenset(expected)


def test_collects_keys_over_all_subjects_and_bodies() -> None:
    texts = ["{{email_subject}}", "<p>{{email_body}}</p>", "Re: {{email_subject_2}}", None, "{{email_body_2}}"]
    assert placeholders_in(texts) == {"email_subject", "email_body", "email_subject_2", "email_body_2"}
