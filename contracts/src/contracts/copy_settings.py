"""How outreach copy is written for a workspace's campaigns (published by leads, which owns the setting)."""

from __future__ import annotations

from typing import ClassVar, Final, Literal

from pydantic import AwareDatetime, Field

from contracts.common import NonEmptyStr
from contracts.envelope import EventData

# The tones the copy generator writes in (libs/copy `copywriter.Tone`; a test keeps the two equal).
CopyTone = Literal["friendly", "direct", "consultative"]
COPY_TONES: Final[tuple[str, ...]] = ("friendly", "direct", "consultative")
DEFAULT_COPY_TONE: Final = "consultative"
# At most this many steps of copy (email_subject_N, email_body_N, email_cta_N) for one lead.
MAX_COPY_STEPS: Final = 10


class CopySettingsChanged(EventData):
    """The copy setting of one campaign of a workspace (or the workspace's default, `campaign_id` "") was set by an
    operator. Consumed by writeback, which writes every lead's copy with its campaign's setting, else the workspace
    default, else `consultative` and the campaign's own step count. Keyed `<workspace>:<campaign_id>`, compacted and
    kept: a new consumer learns every setting from offset 0. The newest `version` of a key wins.

    `tone` None: the workspace default's tone (always set for the default itself). `steps` None: as many steps as the
    campaign has in PlusVibe."""

    PRODUCER: ClassVar[str] = "leads"
    EVENT_TYPE: ClassVar[str] = "CopySettingsChanged"
    workspace: NonEmptyStr
    campaign_id: str = ""
    tone: CopyTone | None = None
    steps: int | None = Field(default=None, ge=1, le=MAX_COPY_STEPS)
    version: int = Field(ge=1)
    changed_at: AwareDatetime


def copy_settings_key(workspace: str, campaign_id: str) -> str:
    """The record key of a setting: one compacted record per workspace and campaign ("" the default)."""
    return f"{workspace}:{campaign_id}"
