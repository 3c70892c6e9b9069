"""Which tone and how many steps a lead's copy is written in, from the copy settings an operator chose (leads owns
them and announces them in CopySettingsChanged; leads and writeback both apply this one rule): its campaign's own
tone, else its workspace's default tone, else `DEFAULT_TONE`; the campaign's own step count if one was chosen, else
None (the caller then uses as many steps as the campaign has)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from copywriter.tone import DEFAULT_TONE, Tone

Source = Literal["campaign", "workspace", "built-in"]


@dataclass(frozen=True, slots=True)
class CopySetting:
    """One stored setting: a campaign's, or a workspace's default. None: not chosen (inherit)."""

    tone: Tone | None = None
    steps: int | None = None


@dataclass(frozen=True, slots=True)
class CopyChoice:
    tone: Tone
    steps: int | None  # None: as many as the campaign has
    source: Source  # where the tone came from


def choose_copy(campaign: CopySetting | None, default: CopySetting | None) -> CopyChoice:
    """`campaign`: the setting of the lead's campaign (None: no campaign, or none stored); `default`: its
    workspace's default setting (None: none stored)."""
    steps = campaign.steps if campaign is not None else None
    if campaign is not None and campaign.tone is not None:
        return CopyChoice(campaign.tone, steps, "campaign")
    if default is not None and default.tone is not None:
        return CopyChoice(default.tone, steps, "workspace")
    return CopyChoice(DEFAULT_TONE, steps, "built-in")
