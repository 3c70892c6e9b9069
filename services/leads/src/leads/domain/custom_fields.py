"""An operator's own fields on a lead (docs/TEMPLATES.md, custom fields): named values that campaign templates may
use as `{{name}}` (or `{{custom_name}}`), sent to PlusVibe with the lead as custom variables and judged by the
readiness guard like every other variable (an empty one a template uses refuses the push).

A name is lower-case `[a-z][a-z0-9_]*`, at most 50 characters, and never one the platform or PlusVibe fills itself:
a standard lead field, a sender field, `job_title`, an audit profile key, a copy key (`email_subject_N`, …) or
anything starting with `custom_` (PlusVibe's own prefix). So an operator's value never replaces a variable the
guard or the writeback promised, and the writeback never overwrites an operator's value."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from contracts.profile import PROFILE_KEYS
from leads.domain.fill_body_keys import is_body_key
from leads.domain.send_dry_run.context import CUSTOM_PREFIX, SENDER_FIELDS, STANDARD_FIELDS

NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,49}")
MAX_FIELDS: Final = 30
MAX_VALUE: Final = 1000
# Filled by the platform or PlusVibe: an operator's field of the same name would shadow or be shadowed.
RESERVED: Final = frozenset({*STANDARD_FIELDS, *SENDER_FIELDS, *PROFILE_KEYS, "email", "job_title", "domain",
                             "title", "phone", "label", "status"})


class CustomFieldError(ValueError):
    """Why a set of custom fields is refused (the API's 422 message)."""


def reserved(name: str) -> bool:
    return name in RESERVED or name.startswith(CUSTOM_PREFIX) or is_body_key(name)


def validate(fields: Mapping[str, object]) -> dict[str, str]:
    """The fields as stored (values trimmed), or CustomFieldError naming the first problem."""
    if len(fields) > MAX_FIELDS:
        raise CustomFieldError(f"At most {MAX_FIELDS} custom fields.")
    out: dict[str, str] = {}
    for name, value in fields.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise CustomFieldError(f"Custom field name {name!r} must be lower-case letters, digits and '_', "
                                   "starting with a letter, at most 50 characters.")
        if reserved(name):
            raise CustomFieldError(f"Custom field name {name!r} is filled by the platform or PlusVibe; choose "
                                   "another name.")
        if not isinstance(value, str):
            raise CustomFieldError(f"Custom field {name!r} must be text.")
        if len(value) > MAX_VALUE or "\x00" in value:
            raise CustomFieldError(f"Custom field {name!r} must be at most {MAX_VALUE} characters, without NUL.")
        out[name] = value.strip()
    return out
