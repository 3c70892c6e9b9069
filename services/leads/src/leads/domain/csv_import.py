"""Reading a CSV file of leads for import (docs/CSV.md), pure: the file's text, its header and rows, the column
mapping (lead field → header), and what each row becomes against the leads already there (the dedupe plan).

A file-level problem (`FileProblem`) refuses the whole file; a row-level one (`RowProblem`) refuses that row, and the
operator chooses whether the valid rows are imported without it."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from leads.domain.custom_fields import CustomFieldError
from leads.domain.custom_fields import validate as validate_custom_fields

FIELDS: Final[tuple[str, ...]] = (
    "company_name", "domain", "first_name", "last_name", "email", "title", "phone", "notes")
CUSTOM_PREFIX: Final = "custom."
ENCODINGS: Final[tuple[str, ...]] = ("utf-8", "utf-16", "windows-1252", "latin-1")
MAX_FIELD_CHARS: Final = 100_000
Dedupe = Literal["skip", "update", "keep_both"]
MatchBy = Literal["email", "domain", "email_or_domain"]

# Headers people put on lead lists, normalised (lower case, words joined by one space) → the lead field.
SYNONYMS: Final[dict[str, str]] = {
    **{k: "company_name" for k in ("company", "company name", "companyname", "organization", "organisation",
                                   "account", "account name", "business", "business name")},
    **{k: "domain" for k in ("domain", "website", "company website", "web site", "url", "site", "company domain",
                             "company url", "homepage")},
    **{k: "first_name" for k in ("first name", "firstname", "first", "given name", "contact first name")},
    **{k: "last_name" for k in ("last name", "lastname", "last", "surname", "family name", "contact last name")},
    **{k: "email" for k in ("email", "e mail", "email address", "e mail address", "mail", "contact email",
                            "work email")},
    **{k: "title" for k in ("title", "job title", "position", "role")},
    **{k: "phone" for k in ("phone", "phone number", "telephone", "mobile", "tel")},
    **{k: "notes" for k in ("notes", "note", "comments", "comment")},
}


@dataclass(frozen=True)
class FileProblem(Exception):
    reason: str
    message: str


@dataclass(frozen=True)
class RowProblem:
    row: int  # the line of the file the row starts on (the header is line 1)
    column: str | None  # the file's header, when one cell is at fault
    reason: str
    message: str


@dataclass(frozen=True)
class ParsedFile:
    headers: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]  # (line, cells)


def decode(content: bytes, encoding: str | None = None) -> str:
    """The file's text: UTF-8 (a byte-order mark is dropped), UTF-16 when it starts with its mark, or the encoding the
    operator chose. Bytes that are not valid in it refuse the file, naming where."""
    if content.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise FileProblem("spreadsheet_not_csv", "This is a spreadsheet file (Excel), not CSV: save it as 'CSV UTF-8' "
                                                 "and upload that.")
    if encoding is not None and encoding not in ENCODINGS:
        raise FileProblem("encoding_unsupported", f"Choose one of: {', '.join(ENCODINGS)}.")
    if encoding is None:
        encoding = "utf-16" if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    elif encoding == "utf-8":
        encoding = "utf-8-sig"
    try:
        text = content.decode(encoding)
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise FileProblem("encoding_invalid",
                          f"The file is not valid {encoding.removesuffix('-sig').upper()} (line {line}, byte "
                          f"{exc.start + 1}). Save it as 'CSV UTF-8', or choose its encoding "
                          "(e.g. windows-1252 for a file from older Excel).") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise FileProblem("invalid_characters", f"The file contains NUL characters (line {line}): it is not a text "
                                                "CSV file, or its encoding is another (try utf-16).")
    return text.removeprefix("\ufeff")


def delimiter_of(header_line: str) -> str:
    """`,`, `;` or tab: whichever the header line uses most (a spreadsheet in a comma-decimal locale writes `;`)."""
    return max((",", ";", "\t"), key=header_line.count) if any(d in header_line for d in ",;\t") else ","


def parse(text: str, *, max_rows: int) -> ParsedFile:
    """Header and rows (RFC 4180: quoted commas, quotes and line breaks stay in their cell; `,`, `;` or tab as the
    delimiter, detected). Blank lines are ignored."""
    if not text.strip():
        raise FileProblem("file_empty", "The file has no header row and no leads.")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(text.split("\n", 1)[0]))
    try:
        header = next(reader)
    except csv.Error as exc:
        raise FileProblem("file_unreadable", f"The header row cannot be read as CSV: {exc}.") from None
    headers = tuple(h.strip() for h in header)
    _check_headers(headers)
    rows: list[tuple[int, tuple[str, ...]]] = []
    line = reader.line_num + 1
    try:
        for cells in reader:
            start = line
            line = reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= max_rows:
                raise FileProblem("too_many_rows", f"The file has more than {max_rows:,} leads; split it.")
            rows.append((start, tuple(cells)))
    except csv.Error as exc:
        raise FileProblem("file_unreadable", f"Line {line} cannot be read as CSV: {exc}.") from None
    if not rows:
        raise FileProblem("file_empty", "The file has a header row but no leads.")
    return ParsedFile(headers, tuple(rows))


def _check_headers(headers: Sequence[str]) -> None:
    if not any(headers):
        raise FileProblem("header_missing", "The first row must name the columns (e.g. email, company, website).")
    seen: dict[str, str] = {}
    for h in headers:
        key = h.lower()
        if key and key in seen:
            raise FileProblem("duplicate_header",
                              f"Two columns are named {h!r}: rename one so each column has its own name.")
        seen[key] = h


def normalised_header(header: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", header.lower()).split())


def suggest_mapping(headers: Sequence[str], remembered: Mapping[str, str] | None = None) -> dict[str, str]:
    """Lead field (or `custom.<name>`) → header: the workspace's last mapping where its headers are in this file,
    then each remaining header a known name of a lead field."""
    present = set(headers)
    mapping = {target: h for target, h in (remembered or {}).items() if h in present}
    used = set(mapping.values())
    for h in headers:
        target = SYNONYMS.get(normalised_header(h))
        if target and target not in mapping and h not in used:
            mapping[target] = h
            used.add(h)
    return mapping


def check_mapping(mapping: Mapping[str, str], headers: Sequence[str]) -> None:
    present = set(headers)
    if "email" not in mapping:
        raise FileProblem("email_column_missing",
                          "Map a column to the contact email: leads are matched by it and PlusVibe needs it.")
    for target, header in mapping.items():
        if header not in present:
            raise FileProblem("mapping_header_unknown", f"The file has no column {header!r} (mapped to {target}).")
        if target.startswith(CUSTOM_PREFIX):
            try:
                validate_custom_fields({target.removeprefix(CUSTOM_PREFIX): ""})
            except CustomFieldError as exc:
                raise FileProblem("mapping_custom_field_invalid", str(exc)) from None
        elif target not in FIELDS:
            raise FileProblem("mapping_field_unknown",
                              f"{target!r} is not a lead field; use one of {', '.join(FIELDS)} or custom.<name>.")
    doubled = {h for h in mapping.values() if list(mapping.values()).count(h) > 1}
    if doubled:
        raise FileProblem("mapping_header_twice", f"Column {sorted(doubled)[0]!r} is mapped to two fields.")


def mapped_values(cells: Sequence[str], headers: Sequence[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """The row's value for each mapped field (a short row: the missing cells are empty)."""
    index = {h: i for i, h in enumerate(headers)}
    return {target: (cells[index[h]].strip() if index[h] < len(cells) else "") for target, h in mapping.items()}


def row_shape_problem(line: int, cells: Sequence[str], headers: Sequence[str]) -> RowProblem | None:
    if len(cells) > len(headers) and any(c.strip() for c in cells[len(headers):]):
        return RowProblem(line, None, "too_many_cells",
                          f"The row has {len(cells)} cells but the header names {len(headers)} columns "
                          "(an unquoted comma?).")
    if any("\x00" in c for c in cells):
        return RowProblem(line, None, "invalid_characters", "The row contains NUL characters.")
    if any(len(c) > MAX_FIELD_CHARS for c in cells):
        return RowProblem(line, None, "cell_too_long", f"A cell is longer than {MAX_FIELD_CHARS:,} characters.")
    return None


# --- the dedupe plan ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Draft:
    """A valid row: the lead it describes (normalised)."""

    line: int
    fields: dict[str, str | None]  # FIELDS → value (None: empty)
    custom: dict[str, str]

    @property
    def email(self) -> str | None:
        return self.fields.get("email")

    @property
    def domain(self) -> str | None:
        return self.fields.get("domain")


@dataclass
class Step:
    """What one valid row does: `create` a lead, `update` an existing one (`lead_id`) or a lead an earlier row
    creates (`into`), or `skip` as a duplicate (`duplicate_of`: "line N" or a lead id)."""

    draft: Draft
    action: Literal["create", "update", "skip"]
    lead_id: str | None = None
    into: int | None = None  # the line whose lead this row updates (a duplicate within the file)
    duplicate_of: str | None = None
    merged: dict[str, str | None] = field(default_factory=dict)


def keys_of(draft: Draft, match_by: MatchBy) -> list[str]:
    keys = []
    if match_by in ("email", "email_or_domain") and draft.email:
        keys.append(f"email:{draft.email.lower()}")
    if match_by in ("domain", "email_or_domain") and draft.domain:
        keys.append(f"domain:{draft.domain.lower()}")
    return keys


def plan(drafts: Iterable[Draft], existing: Callable[[str], str | None], *, dedupe: Dedupe,
         match_by: MatchBy) -> list[Step]:
    """Each valid row's step. `existing(key)` is the id of the lead already in the workspace with that key (the most
    recently updated one when several), or None. Within the file the first row with a key is the one kept; later
    rows with the same key are duplicates of it. `keep_both` creates every row."""
    steps: list[Step] = []
    first_line: dict[str, int] = {}
    for draft in drafts:
        keys = keys_of(draft, match_by)
        if dedupe == "keep_both":
            steps.append(Step(draft, "create"))
            continue
        in_file = next((first_line[k] for k in keys if k in first_line), None)
        found = None if in_file is not None else next((lead for k in keys if (lead := existing(k))), None)
        for k in keys:
            first_line.setdefault(k, draft.line)
        if in_file is not None:
            if dedupe == "skip":
                steps.append(Step(draft, "skip", duplicate_of=f"line {in_file}"))
            else:
                steps.append(Step(draft, "update", into=in_file))
        elif found is not None:
            if dedupe == "skip":
                steps.append(Step(draft, "skip", lead_id=found, duplicate_of=found))
            else:
                steps.append(Step(draft, "update", lead_id=found))
        else:
            steps.append(Step(draft, "create"))
    return steps


# --- rows → drafts ------------------------------------------------------------------------------------------------

# The lead's rules applied to one row's mapped values (the same as the lead form's: the API's LeadCreate): the
# normalised fields and custom fields, or the problems as (field, message).
RowRules = Callable[[dict[str, str]], "tuple[dict[str, str | None], dict[str, str]] | list[tuple[str, str]]"]


def check_rows(parsed: ParsedFile, mapping: Mapping[str, str], rules: RowRules) -> tuple[list[Draft], list[RowProblem]]:
    """Every row as a draft, or the problems that refuse it. A row needs an email or a domain to be a lead."""
    drafts: list[Draft] = []
    problems: list[RowProblem] = []
    for line, cells in parsed.rows:
        shape = row_shape_problem(line, cells, parsed.headers)
        if shape is not None:
            problems.append(shape)
            continue
        values = mapped_values(cells, parsed.headers, mapping)
        checked = rules(values)
        if isinstance(checked, list):
            problems.extend(RowProblem(line, mapping.get(target), "invalid_value", message)
                            for target, message in checked)
            continue
        fields, custom = checked
        if not fields.get("email") and not fields.get("domain"):
            problems.append(RowProblem(line, mapping.get("email"), "email_and_domain_missing",
                                       "The row has neither an email nor a domain."))
            continue
        drafts.append(Draft(line, fields, custom))
    return drafts, problems


def merge(into: dict[str, str | None], draft: Draft) -> None:
    """A later row's non-empty values over an earlier one's (update within the file)."""
    into.update({k: v for k, v in draft.fields.items() if v})
