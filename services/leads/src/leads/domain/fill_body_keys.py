"""Body keys a campaign needs but the stored writeback lacks, generated before the guard runs.

docs/ARCHITECTURE.md, Push: a campaign may have more steps than the writeback knew of; those body keys are produced by
the copy generator from the stored profile, so only missing or empty audit-derived values can make a
lead not ready. Stored body keys that are populated are never rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from contracts.profile import PROFILE_KEYS
from copywriter import LeadFacts, Tone, body_variables
from leads.domain.merge_values import as_text, is_populated

_BODY_FIELDS = ("subject", "body", "cta")
_BODY_KEY = re.compile(r"^email_(subject|body|cta)(_[1-9][0-9]*)?$")
_STEP_SUFFIX = re.compile(r"_([1-9][0-9]*)$")
_ALIASES = {f"email_{f}": f"email_{f}_1" for f in _BODY_FIELDS} | {
    f"email_{f}_1": f"email_{f}" for f in _BODY_FIELDS
}


@dataclass(frozen=True)
class FilledVariables:
    variables: dict[str, str]  # the custom variables to send: stored ones plus the generated ones
    filled: tuple[str, ...]  # the keys that were generated or copied from their alias


def is_body_key(key: str) -> bool:
    return bool(_BODY_KEY.match(key))


def _step_of(key: str) -> int:
    match = _STEP_SUFFIX.search(key)
    return int(match.group(1)) if match else 1


def _alias_of(key: str) -> str:
    """email_subject ↔ email_subject_1; other keys have no alias (returns the key itself)."""
    return _ALIASES.get(key, key)


def fill_body_keys(
    variables: Mapping[str, object],
    *,
    keys: Collection[str],
    lead: LeadFacts,
    tone: Tone,
    steps: int = 1,
) -> FilledVariables:
    """Complete the required body keys among `keys`; everything else is passed through unchanged.

    A step-1 key is first copied from its alias (`email_body` ↔ `email_body_1`) so both stay equal;
    otherwise the whole sequence is generated once, for max(`steps`, highest step a key names).
    """
    result = {key: text for key, value in variables.items() if (text := as_text(value)) is not None}
    wanted = sorted(k for k in keys if is_body_key(k) and not is_populated(k, result.get(k)))
    filled: list[str] = []
    missing: list[str] = []
    for key in wanted:
        alias = _alias_of(key)
        if alias != key and is_populated(alias, result.get(alias)):
            result[key] = result[alias]
            filled.append(key)
        else:
            missing.append(key)
    if missing:
        profile = {key: result[key] for key in PROFILE_KEYS if key in result}
        total = max([steps, *(_step_of(key) for key in missing)])
        generated = body_variables(lead, profile, tone=tone, steps=total)
        for key in missing:
            result[key] = generated[key]
            filled.append(key)
    return FilledVariables(result, tuple(sorted(filled)))
