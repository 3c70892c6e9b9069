"""Which tone and steps copy is written in (copywriter.choose_copy, the rule leads and writeback share): the campaign's
own tone, else the workspace default's, else consultative; the campaign's step count when one was chosen."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contracts.copy_settings import COPY_TONES, DEFAULT_COPY_TONE
from copywriter import CopySetting, Tone, choose_copy

TONES = st.sampled_from([None, *(Tone(t) for t in COPY_TONES)])
SETTINGS = st.one_of(st.none(), st.builds(CopySetting, TONES, st.one_of(st.none(), st.integers(1, 10))))


def test_the_contracts_tones_are_the_generators() -> None:
    assert set(COPY_TONES) == {t.value for t in Tone} and DEFAULT_COPY_TONE in COPY_TONES


@given(SETTINGS, SETTINGS)
def test_the_nearest_tone_wins_and_steps_come_only_from_the_campaign(campaign: CopySetting | None,
                                                                     default: CopySetting | None) -> None:
    choice = choose_copy(campaign, default)
    nearest = [s.tone for s in (campaign, default) if s is not None and s.tone] + [DEFAULT_COPY_TONE]
    assert choice.tone.value == nearest[0]
    assert choice.source == ("campaign" if campaign and campaign.tone else
                             "workspace" if default and default.tone else "built-in")
    assert choice.steps == (campaign.steps if campaign else None)
