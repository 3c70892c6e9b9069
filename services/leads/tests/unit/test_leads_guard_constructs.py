"""The guard as a dry run of PlusVibe's send (docs/TEMPLATES.md): the cases operators' own templates hit."""

from __future__ import annotations

import time

import pytest
from test_leads_readiness import EMAIL, VARIABLES, campaign, judge, lead, refusal

from leads.domain.lead_payload import LeadFields
from leads.domain.readiness import Ready, RefusalReason, Refused, Remedy
from leads.domain.send_dry_run.campaign import TemplateFault
from leads.domain.send_dry_run.context import StorageRule, sender_context

NO_TITLE = LeadFields(email=EMAIL, first_name="Anna", company_name="Acme", domain="acme.test")
NO_NAME = LeadFields(email=EMAIL, company_name="Acme", domain="acme.test", title="CEO")


def test_job_title_is_sent_as_a_custom_variable_and_renders() -> None:
    result = judge(lead(), campaign([("For the {{job_title}}", "{{email_body_1}}")]))
    assert isinstance(result, Ready)
    assert result.lead_object.custom_variables["job_title"] == "Head of Marketing"
    assert "job_title" not in result.lead_object.fields


def test_missing_job_title_used_by_a_template_is_refused_with_edit_lead() -> None:
    result = judge(lead(fields=NO_TITLE), campaign([("For the {{job_title}}", "x")]))
    assert refusal(result) == (RefusalReason.VARIABLES_EMPTY, Remedy.EDIT_LEAD)
    assert isinstance(result, Refused) and "title" in result.message and result.keys == ("job_title",)


def test_custom_prefixed_token_is_sent_under_that_name_so_it_renders() -> None:
    result = judge(lead(), campaign([("Grade {{custom_audit_grade}}", "x")]))
    assert isinstance(result, Ready)
    assert result.lead_object.custom_variables["custom_audit_grade"] == "C"


def test_custom_prefixed_token_under_the_prefixed_rule_renders_from_the_plain_key() -> None:
    result = judge(lead(), campaign([("Grade {{custom_audit_grade}}", "x")]), rule=StorageRule.PREFIXED)
    assert isinstance(result, Ready)
    assert "custom_audit_grade" not in result.lead_object.custom_variables  # stored as custom_ + audit_grade


def test_plain_token_in_a_prefixed_workspace_is_refused_as_unprefixed() -> None:
    result = judge(lead(), campaign([("Grade {{audit_grade}}", "x")]), rule=StorageRule.PREFIXED)
    assert refusal(result) == (RefusalReason.TEMPLATE_VARIABLE_UNPREFIXED, Remedy.EDIT_CAMPAIGN)
    assert isinstance(result, Refused) and "{{custom_audit_grade}}" in result.message


def test_plain_token_while_the_rule_is_unknown_asks_for_the_rule() -> None:
    result = judge(lead(), campaign([("Grade {{audit_grade}}", "x")]), rule=None)
    assert refusal(result) == (RefusalReason.CUSTOM_STORAGE_UNKNOWN, Remedy.SET_CUSTOM_STORAGE)


def test_custom_token_and_standard_fields_render_under_both_rules_while_unknown() -> None:
    result = judge(lead(), campaign([("Hi {{first_name}} of {{company_name}}", "{{custom_top_issue}}")]), rule=None)
    assert isinstance(result, Ready)
    sent = result.lead_object.custom_variables
    assert sent["custom_top_issue"] == sent["top_issue"]


def test_variable_the_system_does_not_produce_is_refused_as_unknown_naming_where() -> None:
    result = judge(lead(), campaign([("Hi", "<p>Hi</p>")], [("", "<p>{{opening_line}}</p>"), ("", "<p>ok</p>")]))
    assert refusal(result) == (RefusalReason.TEMPLATE_VARIABLE_UNKNOWN, Remedy.EDIT_CAMPAIGN)
    assert isinstance(result, Refused)
    first = result.first
    assert first is not None
    assert (first.token, first.step, first.variation, first.part) == ("{{opening_line}}", 2, "A", "body")


def test_token_inside_a_fallback_is_not_required() -> None:
    result = judge(lead(fields=NO_NAME), campaign([("Hi {{fallback|{{first_name}}|there}}", "x")]))
    assert isinstance(result, Ready)


def test_fallback_whose_every_option_is_blank_is_refused() -> None:
    result = judge(lead(fields=NO_NAME), campaign([("Hi {{fallback|{{first_name}}|{{last_name}}}}", "x")]))
    assert refusal(result) == (RefusalReason.VARIABLES_EMPTY, Remedy.EDIT_LEAD)


def test_token_in_a_false_liquid_branch_is_not_required() -> None:
    body = "{% if job_title != blank %}As {{job_title}}, you{% else %}You{% endif %} know {{company_name}}."
    result = judge(lead(fields=NO_TITLE), campaign([("Hi", body)]))
    assert isinstance(result, Ready)
    assert result.lead_object.custom_variables["job_title"] == ""  # sent blank, so Liquid sees blank, not nil


def test_token_in_a_true_liquid_branch_is_required() -> None:
    # Liquid: an empty string is truthy, so `{% if job_title %}` takes the branch and renders it empty.
    result = judge(lead(fields=NO_TITLE), campaign([("Hi", "{% if job_title %}As {{job_title}}{% endif %}")]))
    assert refusal(result) == (RefusalReason.VARIABLES_EMPTY, Remedy.EDIT_LEAD)


def test_unless_and_bare_names_in_tags() -> None:
    body = "{% unless first_name == blank %}Dear {{first_name}}{% endunless %}{{email_body_1}}"
    assert isinstance(judge(lead(fields=NO_NAME), campaign([("Hi", body)])), Ready)
    assert isinstance(judge(lead(), campaign([("Hi", body)])), Ready)


def test_every_spintax_option_is_reachable() -> None:
    result = judge(lead(fields=NO_NAME), campaign([("{{random|Hi|Hello {{first_name}}}}", "x")]))
    assert refusal(result) == (RefusalReason.VARIABLES_EMPTY, Remedy.EDIT_LEAD)
    assert isinstance(judge(lead(), campaign([("{{random|Hi|Hello {{first_name}}|}}", "x")])), Ready)


def test_every_variation_is_checked() -> None:
    result = judge(lead(fields=NO_NAME), campaign([("Hi", "ok"), ("Hi {{first_name}}", "ok")]))
    assert isinstance(result, Refused) and result.first is not None and result.first.variation == "B"


def test_sender_fields_come_from_every_mailbox_of_the_campaign() -> None:
    templates = campaign([("Hi", "{{sender_first_name}}")])
    named = (sender_context("Alex", "M", "a@s.test"), sender_context("Sam", "K", "s@s.test"))
    assert isinstance(judge(lead(), templates, senders=named), Ready)
    unnamed = (*named, sender_context("", "", "x@s.test"))
    assert refusal(judge(lead(), templates, senders=unnamed)) == (RefusalReason.SENDER_FIELD_EMPTY,
                                                                   Remedy.EDIT_MAILBOX)


def test_date_helpers_render() -> None:
    body = '{{pipl_time_of_day}} {{pipl_day_of_week}} {{pipl_date "2 days from now" "MMMM Do YYYY"}}'
    assert isinstance(judge(lead(), campaign([("Hi", body)])), Ready)


def test_key_with_a_pipe_default_is_a_lookup_nobody_fills() -> None:
    result = judge(lead(), campaign([("Hi {{first_name|there}}", "x")]))
    assert refusal(result) == (RefusalReason.TEMPLATE_VARIABLE_UNKNOWN, Remedy.EDIT_CAMPAIGN)


def test_body_keys_for_more_steps_than_the_writeback_knew_are_generated() -> None:
    stored = {k: v for k, v in VARIABLES.items() if not k.endswith("_3")}
    result = judge(lead(variables=stored), campaign([("a", "b")], [("", "c")], [("", "{{email_body_3}}")]), steps=3)
    assert isinstance(result, Ready) and "email_body_3" in result.filled


def test_an_unused_empty_value_does_not_block() -> None:
    assert isinstance(judge(lead(variables=VARIABLES | {"second_issue": ""}), campaign([("{{top_issue}}", "x")])),
                      Ready)


@pytest.mark.parametrize("template", ["Hi {{first_name", "{% if x %}no end", "{% bogus %}", "{{random|a|{{b}}"])
def test_malformed_templates_are_a_campaign_problem(template: str) -> None:
    with pytest.raises(TemplateFault) as fault:
        campaign([("Hi", "ok")], [("", template)])
    assert fault.value.ref.step == 2 and fault.value.ref.part == "body"


def test_huge_and_deeply_nested_templates_are_bounded_in_time() -> None:
    started = time.monotonic()
    with pytest.raises(TemplateFault):
        campaign([("x", "{{random|" * 500 + "a" + "}}" * 500)])
    with pytest.raises(TemplateFault):
        campaign([("x", "y" * 300_000)])
    big = "<p>{{first_name}} {{fallback|{{last_name}}|x}} {% if job_title %}{{job_title}}{% endif %}</p>" * 2_000
    assert isinstance(judge(lead(), campaign([("x", big)])), Ready)
    loop = "{% for i in (1..1000000) %}{{first_name}}{% endfor %}"
    with pytest.raises(TemplateFault):
        judge(lead(), campaign([("x", loop)]))
    assert time.monotonic() - started < 10


def test_preview_marks_each_empty_placeholder() -> None:
    result = judge(lead(fields=NO_TITLE), campaign([("For {{job_title}}", "<p>Hi {{first_name}} {{opening_line}}</p>")]))
    assert isinstance(result, Refused) and result.dry_run is not None
    subject, body = result.dry_run.previews
    assert subject.text == "For " and '<mark class="pv-problem" data-token="{{job_title}}"' in subject.marked
    assert body.text == "<p>Hi Anna </p>" and 'data-token="{{opening_line}}"' in body.marked
    assert {p.token for p in result.problems} == {"{{job_title}}", "{{opening_line}}"}
