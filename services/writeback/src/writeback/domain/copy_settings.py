"""Which tone and how many steps a lead's copy is written with: the rule all services share
(`copywriter.choose_copy`: its campaign's setting, else its workspace's default, else `DEFAULT_TONE`; the campaign's
own step count in PlusVibe unless one was chosen), and writeback's one addition: a lead not linked to a campaign gets
the default's tone and 1 step (leads fills more on push)."""

from __future__ import annotations

from copywriter import CopyChoice, CopySetting, choose_copy

UNLINKED_STEPS = 1


def copy_for(campaign: CopySetting | None, default: CopySetting | None, *, linked: bool) -> CopyChoice:
    """The copy of a lead of a workspace whose default setting is `default` (None: none stored); `campaign`: the
    setting of the lead's campaign (ignored when the lead is not `linked` to one)."""
    if not linked:
        chosen = choose_copy(None, default)
        return CopyChoice(chosen.tone, UNLINKED_STEPS, chosen.source)
    return choose_copy(campaign, default)
