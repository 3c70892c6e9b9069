"""A lead list as CSV (Leads → Export CSV): one row per lead, every field an operator sees, the custom fields as a
JSON object, and every cell safe to open in a spreadsheet (pure).

Formula injection: a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and some with a tab or a carriage
return first) as a formula, so `=cmd|' /C calc'!A0` in a company name would run on the operator's machine. Such a
cell is written with a leading `'`, which spreadsheets show as text and do not evaluate (OWASP's advice). Nothing
else is changed: the file reads back as what the platform holds, but for that one quote."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

COLUMNS: Final[tuple[str, ...]] = (
    "id", "company_name", "domain", "first_name", "last_name", "email", "title", "phone", "notes", "status",
    "campaign_id", "audit_grade", "audit_score", "top_issue", "opens", "custom_fields", "created_at", "updated_at",
)
FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
BOM: Final = "\ufeff"  # so a spreadsheet reads the file as UTF-8


def neutralise(value: str) -> str:
    """The cell as a spreadsheet shows it, never as a formula."""
    return f"'{value}" if value.startswith(FORMULA_START) else value


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return neutralise(json.dumps(dict(value), ensure_ascii=False, sort_keys=True)) if value else ""
    return neutralise(str(value))


def header() -> str:
    return BOM + rows([COLUMNS])


def rows(values: Iterable[Sequence[object]]) -> str:
    """CSV lines (RFC 4180 quoting: commas, quotes and line breaks inside a cell stay in that cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in values:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()
