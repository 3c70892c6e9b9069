"""The copy of a lead (pure): its campaign's setting, else its workspace default's tone, else `DEFAULT_TONE` and the
campaign's own step count; a lead not linked to a campaign gets the default's tone and 1 step."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contracts.copy_settings import COPY_TONES, DEFAULT_COPY_TONE, MAX_COPY_STEPS
from copywriter import DEFAULT_TONE, CopyChoice, CopySetting, Tone
from writeback.domain.copy_settings import copy_for

tones = st.none() | st.sampled_from(list(Tone))
steps = st.none() | st.integers(1, MAX_COPY_STEPS)
settings = st.none() | st.builds(CopySetting, tone=tones, steps=steps)


def test_the_contract_and_the_copy_generator_know_the_same_tones() -> None:
    assert set(COPY_TONES) == {t.value for t in Tone} and DEFAULT_TONE.value == DEFAULT_COPY_TONE


def test_the_campaign_setting_wins_then_the_default_then_the_built_in_tone() -> None:
    direct, friendly = CopySetting(Tone.DIRECT, 4), CopySetting(Tone.FRIENDLY)
    assert copy_for(direct, friendly, linked=True) == CopyChoice(Tone.DIRECT, 4, "campaign")
    assert copy_for(CopySetting(steps=2), friendly, linked=True) == CopyChoice(Tone.FRIENDLY, 2, "workspace")
    assert copy_for(None, friendly, linked=True) == CopyChoice(Tone.FRIENDLY, None, "workspace")
    assert copy_for(None, None, linked=True) == CopyChoice(DEFAULT_TONE, None, "built-in")
    assert copy_for(CopySetting(), CopySetting(), linked=True) == CopyChoice(DEFAULT_TONE, None, "built-in")


def test_an_unlinked_lead_gets_the_default_tone_and_one_step() -> None:
    assert copy_for(CopySetting(Tone.DIRECT, 4), CopySetting(Tone.FRIENDLY, 3), linked=False) == CopyChoice(
        Tone.FRIENDLY, 1, "workspace")
    assert copy_for(None, None, linked=False) == CopyChoice(DEFAULT_TONE, 1, "built-in")


@given(campaign=settings, default=settings)
def test_a_linked_lead_follows_the_rule(campaign: CopySetting | None, default: CopySetting | None) -> None:
    choice = copy_for(campaign, default, linked=True)
    if campaign is not None and campaign.tone is not None:
        assert choice.tone is campaign.tone
    elif default is not None and default.tone is not None:
        assert choice.tone is default.tone
    else:
        assert choice.tone is DEFAULT_TONE
    # The default's step count never applies: None means the campaign's own, read from PlusVibe.
    assert choice.steps == (campaign.steps if campaign is not None else None)


@given(campaign=settings, default=settings)
def test_an_unlinked_lead_ignores_any_campaign_setting(campaign: CopySetting | None,
                                                       default: CopySetting | None) -> None:
    choice = copy_for(campaign, default, linked=False)
    assert choice == copy_for(None, default, linked=False)
    assert choice.steps == 1
    assert choice.tone is (default.tone if default is not None and default.tone is not None else DEFAULT_TONE)
