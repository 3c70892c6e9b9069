"""The simulator's renderer against docs/TEMPLATES.md §2: Liquid pass, merge tags, judge mode, bounds."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pytest

from plusvibe.simulator import Renderer
from plusvibe.simulator.render import MALFORMED, MAX_TEMPLATE_CHARS


def render(
    template: str, context: Mapping[str, object] | None = None, salt: str = "", judge: bool = False
) -> tuple[str, list[str]]:
    out = Renderer("t").render(template, context or {}, salt, judge=judge)
    return out.text, out.empty_keys


def test_lookup_takes_the_exact_key_then_its_lowercase_and_an_enrichment_val() -> None:
    assert render("{{First_Name}}", {"first_name": "ana", "First_Name": "Ana"}) == ("Ana", [])
    assert render("{{ FIRST_NAME }}", {"first_name": "ana"}) == ("ana", [])
    assert render("{{grade}}", {"grade": {"status": "done", "val": "B", "msg": ""}}) == ("B", [])
    assert render("{{grade}}", {"grade": {"status": "failed", "val": None}}) == ("", ["grade"])


def test_blank_or_missing_lookups_render_empty_and_are_reported() -> None:
    assert render("Hi {{first_name}},{{x}}{{nope}}!", {"first_name": "", "x": "  \n"}) == (
        "Hi ,  \n!",
        ["first_name", "x", "nope"],
    )


def test_fallback_takes_the_first_non_blank_option_with_its_whitespace() -> None:
    ctx = {"first_name": "", "nick": " Jo "}
    assert render("{{fallback|{{first_name}}|there}}", ctx) == ("there", [])
    assert render("{{fallback|  |{{first_name}}|{{nick}}|x}}", ctx) == (" Jo ", [])
    assert render("{{fallback|{{first_name}}| dear {{nick}}}}", ctx) == (" dear  Jo ", [])


def test_a_fallback_is_a_problem_only_when_every_option_renders_blank() -> None:
    assert render("{{fallback|{{a}}|{{b}}}}", {"b": " "}) == ("", ["fallback|{{a}}|{{b}}"])
    assert render("{{fallback|{{a}}|{{b}}}}", {"b": "B"}) == ("B", [])  # {{a}} alone is not a problem


def test_keywords_are_matched_trimmed_and_case_insensitive() -> None:
    assert render("{{ FallBack |{{a}}|x}}") == ("x", [])
    assert render("{{ RANDOM |only}}") == ("only", [])


def test_a_pipe_tag_that_is_not_a_keyword_looks_up_its_whole_inside() -> None:
    assert render("{{first_name|there}}", {"first_name": "Ana"}) == ("", ["first_name|there"])
    assert render("{{ first_name | upcase }}", {"first_name": "Ana"}) == ("", ["first_name | upcase"])
    assert render("{{first_name|there}}", {"first_name|there": "odd"}) == ("odd", [])


def test_pipl_helpers_render_non_empty_and_an_unknown_pipl_name_is_a_lookup() -> None:
    text, empty = render('{{pipl_date "2 days from now" "MMMM Do YYYY"}}|{{pipl_time_of_day}}|{{PIPL_DAY_OF_WEEK}}')
    date, tod, dow = text.split("|")
    assert empty == [] and date.strip() and tod in {"morning", "afternoon", "evening"} and dow.endswith("day")
    assert render('{{pipl_date "whenever" "???"}}')[0].strip()
    assert render("{{pipl_date}}")[0].strip()
    assert render("{{pipl_weather}}") == ("", ["pipl_weather"])


def test_random_is_deterministic_per_salt_reaches_every_option_and_allows_an_empty_one() -> None:
    picks = {render("{{random|A|B|C}}", salt=str(i))[0] for i in range(60)}
    assert picks == {"A", "B", "C"}
    assert render("{{random|A|B}}", salt="x") == render("{{random|A|B}}", salt="x")
    outcomes = [render("{{random|Hi||Hello}}", salt=str(i)) for i in range(60)]
    assert ("", []) in outcomes  # the empty option is allowed, not a placeholder


def _salt_where(template: str, wanted: str, context: Mapping[str, object] | None = None) -> str:
    for i in range(200):
        if render(template, context, str(i))[0] == wanted:
            return str(i)
    raise AssertionError(f"no salt renders {wanted!r}")


def test_judge_mode_reports_empties_in_an_option_random_did_not_pick_and_keeps_the_text() -> None:
    template = "{{random|Hello|Hi {{first_name}}}} and {{random|x|{{random|y|{{deep}}}}}}"
    salt = _salt_where(template, "Hello and x")
    assert render(template, salt=salt) == ("Hello and x", [])
    text, empty = render(template, salt=salt, judge=True)
    assert text == "Hello and x"
    assert sorted(set(empty)) == ["deep", "first_name"]


def test_judge_mode_never_changes_the_rendered_text() -> None:
    template = "{{random|a {{random|b|c}}|d}} {{fallback|{{random|{{n}}|e}}|f}} {{random|g|h|{{i}}}}"
    for n in range(50):
        assert render(template, {"i": "I"}, str(n))[0] == render(template, {"i": "I"}, str(n), judge=True)[0]


def test_judge_mode_reports_a_fallback_that_some_random_choice_leaves_blank() -> None:
    template = "{{fallback|{{random|x|{{a}}}}|{{b}}}}"
    salt = _salt_where(template, "x")
    assert render(template, salt=salt) == ("x", [])
    assert render(template, salt=salt, judge=True) == ("x", ["fallback|{{random|x|{{a}}}}|{{b}}"])
    assert render(template, {"b": "B"}, salt=salt, judge=True) == ("x", [])


@pytest.mark.parametrize(
    ("template", "context", "expected"),
    [
        ("{% if job_title %}T{% else %}F{% endif %}", {"job_title": ""}, "T"),  # "" is truthy in Liquid
        ("{% if job_title %}T{% else %}F{% endif %}", {}, "F"),  # nil is falsy
        ("{% if job_title != blank %}T{% else %}F{% endif %}", {"job_title": ""}, "F"),
        ("{% if job_title != blank %}T{% else %}F{% endif %}", {"job_title": "  "}, "F"),
        ("{% if job_title != blank %}T{% else %}F{% endif %}", {}, "T"),  # nil != blank
        ("{% if job_title != blank %}T{% else %}F{% endif %}", {"job_title": "CTO"}, "T"),
        ("{% if x == empty %}T{% else %}F{% endif %}", {"x": ""}, "T"),
        ("{% if x == empty %}T{% else %}F{% endif %}", {"x": " "}, "F"),
        ("{% if x == blank %}T{% else %}F{% endif %}", {"x": " "}, "T"),
        ("{% unless x %}U{% endunless %}", {}, "U"),
        ("{% if x contains 'ak' %}T{% endif %}", {"x": "bakery"}, "T"),
        ("{% if n > 3 and m < 2 or q %}T{% else %}F{% endif %}", {"n": 5, "m": 1}, "T"),
        ("{% if a == 'x' %}1{% elsif b %}2{% else %}3{% endif %}", {"b": ""}, "2"),
        ("{% case x %}{% when 'a' %}A{% when 'b', 'c' %}BC{% else %}E{% endcase %}", {"x": "c"}, "BC"),
    ],
)
def test_liquid_tags_follow_liquid_truthiness(template: str, context: dict[str, object], expected: str) -> None:
    assert render(template, context) == (expected, [])


def test_merge_tags_live_or_die_with_their_liquid_branch() -> None:
    template = "{% if job_title != blank %}As {{job_title}} at {{company}}{% else %}At {{company}}{% endif %}"
    assert render(template, {"job_title": "", "company": "Acme"}) == ("At Acme", [])
    assert render(template, {"job_title": "CTO", "company": "Acme"}) == ("As CTO at Acme", [])
    assert render(template, {"company": "Acme"}) == ("As  at Acme", ["job_title"])  # nil != blank: reached


def test_merge_tags_are_opaque_to_liquid_and_liquid_inside_a_merge_tag_is_text() -> None:
    assert render("{% if a %}{{ a | upcase }}{% endif %}", {"a": "x"}) == ("", ["a | upcase"])
    assert render("{{fallback|{{n}}|{% if a %}yes{% endif %}}}", {}) == ("{% if a %}yes{% endif %}", [])
    assert render("{# kept #}{{a}}", {"a": "A"}) == ("{# kept #}A", [])


@pytest.mark.parametrize(
    "template",
    [
        "Hi {{first_name",
        "Hi {{fallback|{{first_name}}|there}",
        "{% if first_name %}Hi",
        "{% if %}x{% endif %}",
        "{% endif %}",
        "{% bogus %}",
        "{% include 'x' %}",
        "{% for i in (1..100000) %}{{a}}{% endfor %}",
    ],
)
def test_malformed_templates_are_reported_not_raised(template: str) -> None:
    text, empty = render(template, {"a": "A", "first_name": "Ana"}, judge=True)
    assert empty == [MALFORMED] and text == template


def test_huge_or_deep_templates_are_refused_within_a_time_bound() -> None:
    hostile = [
        "x" * (MAX_TEMPLATE_CHARS + 1),
        "{{" * 50_000 + "a" + "}}" * 50_000,
        "{% if a %}" * 5_000 + "x" + "{% endif %}" * 5_000,
        "{{random|" * 17 + "x" + "|y}}" * 17,
        "{% for i in (1..9000) %}{{fallback|{{a}}|{{b}}|{{c}}|" + "z" * 2_000 + "}}{% endfor %}",
    ]
    started = time.monotonic()
    for template in hostile:
        assert render(template, {"a": "A"}, judge=True)[1] == [MALFORMED]
    assert time.monotonic() - started < 2.0
    many = "{{random|{{a}}|{{b}}}} " * 8_000  # big but legal: rendered, in bounded time
    started = time.monotonic()
    text, empty = render(many, {"a": "A"}, judge=True)
    assert time.monotonic() - started < 3.0 and empty.count("b") == 8_000 and "A" in text
