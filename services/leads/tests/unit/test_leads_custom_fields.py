"""An operator's custom fields (leads.domain.custom_fields) against generated, hostile input: every set is either
stored as given (trimmed) with only names a template can use and the platform never fills, or refused with a reason;
nothing else can come out. And the lead object the push sends carries them, never over a platform variable."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from contracts.profile import PROFILE_KEYS, body_keys
from leads.domain.custom_fields import MAX_FIELDS, MAX_VALUE, CustomFieldError, validate
from leads.domain.lead_payload import LeadFields, build_lead_object

NAMES = st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True), st.text(max_size=60),
                  st.sampled_from([*PROFILE_KEYS, *body_keys(3), "first_name", "custom_x", "email", "sender_name",
                                   "job_title", "Industry", "1abc", "a" * 51, "industry"]))
VALUES = st.one_of(st.text(max_size=40), st.just("x" * (MAX_VALUE + 1)), st.just("a\x00b"), st.integers())


@given(st.dictionaries(NAMES, VALUES, max_size=MAX_FIELDS + 3))
def test_a_set_is_stored_as_given_or_refused_with_a_reason(fields: dict[str, object]) -> None:
    try:
        stored = validate(fields)
    except CustomFieldError as exc:
        reason = str(exc)
        assert reason  # a refusal always says why
        return
    # The judge, written from the rule's wording, not from its code.
    platform = {*PROFILE_KEYS, "first_name", "last_name", "company_name", "company_website", "phone_number", "notes",
                "linkedin_person_url", "linkedin_company_url", "address_line", "city", "country", "country_code",
                "email", "job_title", "domain", "title", "phone", "label", "status", "sender_first_name",
                "sender_last_name", "sender_name", "sender_email", "sender_signature"}
    assert len(stored) <= MAX_FIELDS
    for name, value in stored.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,49}", name) and name not in platform
        assert not name.startswith("custom_") and not re.fullmatch(r"email_(subject|body|cta)(_\d+)?", name)
        assert value == str(fields[name]).strip() and len(value) <= MAX_VALUE and "\x00" not in value


def test_the_push_sends_the_operators_fields_beside_the_platforms_variables() -> None:
    lead = LeadFields(email="a@b.test", first_name="Ada", custom={"industry": "Bakery", "city_area": ""})
    sent = build_lead_object(lead, {"email_body_1": "Hello", "audit_grade": "B"}, names={"industry", "custom_industry"},
                             rule=None)
    assert sent.custom_variables["industry"] == "Bakery" and sent.custom_variables["custom_industry"] == "Bakery"
    assert sent.custom_variables["email_body_1"] == "Hello" and sent.custom_variables["city_area"] == ""
