"""Which PlusVibe campaigns can take leads (pure rule, docs/CAMPAIGN-STATES.md).

A push enrols leads into a campaign's sequence. PlusVibe sends to them only while the campaign runs, so the platform
offers, and pushes to, the campaigns that will: an ACTIVE one, or one not launched yet (INACTIVE/DRAFT: the leads
wait for the launch). A paused, completed or archived campaign is refused with a reason, and so is a subsequence
(its leads come from its parent campaign's rules, not from a push). A status this rule does not know is refused
too: the promise is that a pushed lead gets sent, so an unknown state is not taken on trust.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

TAKES_LEADS: Final = frozenset({"ACTIVE", "INACTIVE", "DRAFT"})
_REFUSED: Final = {
    "PAUSED": ("campaign_paused", "is paused in PlusVibe; resume it before pushing leads."),
    "COMPLETED": ("campaign_completed", "has completed in PlusVibe; it sends no more emails, so leads pushed to it "
                                        "would never be contacted. Choose a running campaign."),
    "ARCHIVED": ("campaign_archived", "is archived in PlusVibe and takes no leads. Choose a running campaign."),
}
_SUBSEQUENCE_TYPES: Final = frozenset({"SUBSEQ", "SUBSEQUENCE"})


@dataclass(frozen=True, slots=True)
class Intake:
    """Whether a campaign can take leads now and, if not, why (`reason` is the API's reason code)."""

    ok: bool
    reason: str | None = None
    message: str | None = None


def intake(status: str, campaign_type: str = "", name: str = "") -> Intake:
    label = f"Campaign {name}" if name else "The campaign"
    if campaign_type.strip().upper() in _SUBSEQUENCE_TYPES:
        return Intake(False, "campaign_subsequence",
                      f"{label} is a subsequence: PlusVibe moves leads into it from its parent campaign. Push to the "
                      "parent campaign instead.")
    state = status.strip().upper()
    if state in TAKES_LEADS:
        return Intake(True)
    if state in _REFUSED:
        reason, text = _REFUSED[state]
        return Intake(False, reason, f"{label} {text}")
    shown = status.strip() or "no status"
    return Intake(False, "campaign_status_unknown",
                  f"{label} has a status the platform does not know ({shown}), so it cannot tell whether PlusVibe "
                  "would send to the leads. Check the campaign in PlusVibe.")
