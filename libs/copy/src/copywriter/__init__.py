"""Pure, deterministic outreach copy from a lead, its audit profile and a tone."""

from copywriter.choice import CopyChoice, CopySetting, choose_copy
from copywriter.facts import LeadFacts
from copywriter.findings import Finding, findings_from_profile
from copywriter.html import to_html
from copywriter.sequence import SUBJECT_MAX, StepCopy, body_variables, generate_sequence
from copywriter.tone import DEFAULT_TONE, Tone

__all__ = [
    "DEFAULT_TONE",
    "SUBJECT_MAX",
    "CopyChoice",
    "CopySetting",
    "Finding",
    "LeadFacts",
    "StepCopy",
    "Tone",
    "body_variables",
    "choose_copy",
    "findings_from_profile",
    "generate_sequence",
    "to_html",
]
