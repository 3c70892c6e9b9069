"""The payload builder: 18 profile keys + body keys per step, every value usable by PlusVibe."""

from __future__ import annotations

import pytest
from writeback_testkit import PROFILE

from contracts.profile import PROFILE_KEYS, body_keys
from copywriter import Tone
from writeback.domain.payload import CopyInputs, PayloadError, build_variables, payload_hash


def _inputs(**profile_overrides: str) -> CopyInputs:
    return CopyInputs(PROFILE | profile_overrides, company_name="Acme", domain="acme.test", first_name="Jo")


def test_one_step_payload_has_the_18_profile_keys_and_the_step_one_body_keys() -> None:
    variables = build_variables(_inputs(), steps=1, tone=Tone.CONSULTATIVE)
    assert set(variables) == set(PROFILE_KEYS) | set(body_keys(1))
    assert len(variables) == 18 + 6
    assert variables["email_subject"] == variables["email_subject_1"]
    assert all(v.strip() and "{{" not in v for v in variables.values())


def test_three_step_campaign_gets_numbered_body_keys_that_differ_per_step() -> None:
    variables = build_variables(_inputs(), steps=3, tone=Tone.DIRECT)
    assert set(variables) == set(PROFILE_KEYS) | set(body_keys(3))
    assert len({variables["email_body_1"], variables["email_body_2"], variables["email_body_3"]}) == 3


def test_profile_values_are_passed_through_unchanged() -> None:
    variables = build_variables(_inputs(), steps=1, tone=Tone.CONSULTATIVE)
    assert {k: variables[k] for k in PROFILE_KEYS} == PROFILE


def test_refuses_a_profile_with_an_empty_key() -> None:
    with pytest.raises(PayloadError, match="top_issue"):
        build_variables(_inputs(top_issue="  "), steps=1, tone=Tone.CONSULTATIVE)


def test_the_same_inputs_give_the_same_payload_hash_and_other_inputs_another() -> None:
    a = build_variables(_inputs(), steps=2, tone=Tone.CONSULTATIVE)
    b = build_variables(_inputs(), steps=2, tone=Tone.CONSULTATIVE)
    c = build_variables(_inputs(audit_score="73"), steps=2, tone=Tone.CONSULTATIVE)
    assert payload_hash(a) == payload_hash(b) != payload_hash(c)


def test_stored_inputs_round_trip() -> None:
    inputs = _inputs()
    assert CopyInputs.from_json(inputs.to_json()) == inputs
