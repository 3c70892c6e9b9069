"""The merge-variable payload: the 18 profile keys plus the body keys of `steps` steps."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from contracts.profile import PROFILE_KEYS, body_keys
from copywriter import LeadFacts, Tone, body_variables


class PayloadError(ValueError):
    """The inputs cannot make a complete payload (a profile key missing or empty)."""


@dataclass(frozen=True)
class CopyInputs:
    """Everything the payload depends on except the step count (known only once the campaign is read)."""

    profile: dict[str, str]
    company_name: str | None = None
    domain: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    job_title: str | None = None

    def facts(self) -> LeadFacts:
        return LeadFacts(self.company_name, self.domain, self.first_name, self.last_name, self.job_title)

    def to_json(self) -> dict[str, object]:
        return {"profile": dict(self.profile), "company_name": self.company_name, "domain": self.domain,
                "first_name": self.first_name, "last_name": self.last_name, "job_title": self.job_title}

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> CopyInputs:
        profile = raw.get("profile")
        if not isinstance(profile, dict):
            raise PayloadError("stored inputs lack a profile")

        def opt(key: str) -> str | None:
            value = raw.get(key)
            return value if isinstance(value, str) else None

        return cls({str(k): str(v) for k, v in profile.items()}, opt("company_name"), opt("domain"),
                   opt("first_name"), opt("last_name"), opt("job_title"))

    def fingerprint(self) -> str:
        return digest(self.to_json())


def digest(value: object) -> str:
    """A stable SHA-256 of a JSON-able value (sorted keys)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def build_variables(inputs: CopyInputs, *, steps: int, tone: Tone) -> dict[str, str]:
    """18 profile keys + `email_subject/_body/_cta` and their `_1.._N` forms; every value non-empty."""
    profile: dict[str, str] = {}
    for key in PROFILE_KEYS:
        value = str(inputs.profile.get(key, "")).strip()
        if not value:
            raise PayloadError(f"profile key {key!r} is missing or empty")
        profile[key] = value
    body = body_variables(inputs.facts(), profile, tone=tone, steps=max(steps, 1))
    variables = profile | {key: body[key] for key in body_keys(steps)}
    empty = [k for k, v in variables.items() if not v.strip() or "{{" in v]
    if empty:
        raise PayloadError(f"generated values empty or containing '{{{{': {sorted(empty)}")
    return variables


def payload_hash(variables: Mapping[str, str]) -> str:
    return digest(dict(variables))
