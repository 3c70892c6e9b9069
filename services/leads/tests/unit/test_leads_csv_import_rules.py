"""The CSV import's pure rules (leads.domain.csv_import) against inputs they were not written for: generated cells
with commas, quotes, line breaks, BOMs and formulas read back exactly; any file is either read or refused with a
reason (never another exception); and the dedupe plan agrees with a brute-force judge written independently."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leads.domain import csv_import as ci

CELL = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)


def _file(headers: list[str], rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue()


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(CELL, min_size=3, max_size=3), min_size=1, max_size=8),
       delimiter=st.sampled_from([",", ";", "\t"]), bom=st.booleans())
def test_generated_cells_read_back_exactly(rows: list[list[str]], delimiter: str, bom: bool) -> None:
    headers = ["email", "company name", "notes"]
    text = _file(headers, rows, delimiter)
    content = (("\ufeff" if bom else "") + text).encode()
    kept = [r for r in rows if any(c.strip() for c in r)]
    if not kept:
        with pytest.raises(ci.FileProblem):
            ci.parse(ci.decode(content), max_rows=100)
        return
    parsed = ci.parse(ci.decode(content), max_rows=100)
    assert parsed.headers == tuple(headers)
    assert [list(cells) for _, cells in parsed.rows] == kept


@settings(max_examples=300, deadline=None)
@given(content=st.binary(max_size=200))
def test_any_bytes_are_read_or_refused_with_a_reason(content: bytes) -> None:
    problem: ci.FileProblem | None = None
    try:
        parsed = ci.parse(ci.decode(content), max_rows=50)
    except ci.FileProblem as refused:
        problem = refused
    if problem is not None:
        assert problem.reason and problem.message
    else:
        assert parsed.rows and all(isinstance(c, str) for _, cells in parsed.rows for c in cells)


def test_rows_start_on_the_line_they_start_on_in_the_file() -> None:
    text = 'email,notes\r\na@x.test,"two\r\nlines"\r\n\r\nb@x.test,one\r\n'
    assert [line for line, _ in ci.parse(text, max_rows=10).rows] == [2, 5]


@pytest.mark.parametrize(("text", "reason"), [
    ("", "file_empty"), ("email\r\n\r\n", "file_empty"), (",,\r\na,b,c\r\n", "header_missing"),
    ("Email,email\r\na,b\r\n", "duplicate_header"), ("email\r\n" + "a@x.test\r\n" * 6, "too_many_rows"),
])
def test_files_refused_whole(text: str, reason: str) -> None:
    with pytest.raises(ci.FileProblem) as caught:
        ci.parse(text, max_rows=5)
    assert caught.value.reason == reason


def test_a_byte_that_is_not_utf8_is_refused_naming_its_line_and_another_encoding_reads_it() -> None:
    content = "email,company\r\na@x.test,Café\r\n".encode("windows-1252")
    with pytest.raises(ci.FileProblem) as caught:
        ci.decode(content)
    assert caught.value.reason == "encoding_invalid" and "line 2" in caught.value.message
    assert "Café" in ci.decode(content, "windows-1252")
    assert ci.decode("email\r\n".encode("utf-16")) == "email\r\n"


def test_the_suggested_mapping_prefers_the_remembered_one_then_known_names() -> None:
    headers = ["E-mail Address", "Company", "Web Site", "Sector"]
    assert ci.suggest_mapping(headers) == {"email": "E-mail Address", "company_name": "Company", "domain": "Web Site"}
    remembered = {"custom.sector": "Sector", "company_name": "Company", "phone": "Phone"}
    assert ci.suggest_mapping(headers, remembered) == {
        "custom.sector": "Sector", "company_name": "Company", "email": "E-mail Address", "domain": "Web Site"}


# --- the dedupe plan against an independent judge ------------------------------------------------------------------

EMAILS = st.sampled_from([None, "a@x.test", "b@x.test", "A@X.TEST"])
DOMAINS = st.sampled_from([None, "x.test", "y.test", "X.test"])


def _judge(rows: list[tuple[str | None, str | None]], existing: dict[str, str], dedupe: str, match_by: str
           ) -> list[str]:
    """Brute force, from the rule as documented: a row is a duplicate of the first EARLIER row sharing any match key,
    else of an existing lead sharing one (email before domain); keep_both creates everything."""
    def keys(email: str | None, domain: str | None) -> list[str]:
        out = []
        if match_by in ("email", "email_or_domain") and email:
            out.append("email:" + email.lower())
        if match_by in ("domain", "email_or_domain") and domain:
            out.append("domain:" + domain.lower())
        return out

    actions = []
    for i, (email, domain) in enumerate(rows):
        mine = keys(email, domain)
        if dedupe == "keep_both":
            actions.append("create")
            continue
        earlier = any(set(mine) & set(keys(*rows[j])) for j in range(i))
        known = any(k in existing for k in mine)
        if earlier or known:
            actions.append("skip" if dedupe == "skip" else "update")
        else:
            actions.append("create")
    return actions


@settings(max_examples=400, deadline=None)
@given(rows=st.lists(st.tuples(EMAILS, DOMAINS), max_size=8),
       existing_keys=st.sets(st.sampled_from(["email:a@x.test", "email:b@x.test", "domain:x.test", "domain:y.test"])),
       dedupe=st.sampled_from(["skip", "update", "keep_both"]),
       match_by=st.sampled_from(["email", "domain", "email_or_domain"]))
def test_the_dedupe_plan_agrees_with_a_brute_force_judge(
        rows: list[tuple[str | None, str | None]], existing_keys: set[str], dedupe: ci.Dedupe, match_by: ci.MatchBy
) -> None:
    existing = {k: f"lead-{k}" for k in existing_keys}
    drafts = [ci.Draft(line=n + 2, fields={"email": e, "domain": d}, custom={}) for n, (e, d) in enumerate(rows)]
    steps = ci.plan(drafts, existing.get, dedupe=dedupe, match_by=match_by)
    assert [s.action for s in steps] == _judge(rows, existing, dedupe, match_by)
    for step in steps:
        if step.action == "update":
            assert (step.into is None) != (step.lead_id is None)  # one target: an earlier row, or an existing lead
            if step.into is not None:
                assert step.into < step.draft.line
