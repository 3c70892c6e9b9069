"""Export CSV through the API on PostgreSQL: every lead the list's filters match (not one page), the workspace's own
only, in the list's order, with formula-like cells neutralised and custom fields as JSON."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from leads_testkit import TwoWorkspaces

from leads.domain.csv_export import BOM, COLUMNS

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _parse(body: str) -> list[dict[str, str]]:
    assert body.startswith(BOM)
    return list(csv.DictReader(io.StringIO(body.removeprefix(BOM), newline="")))


async def test_the_export_holds_every_matching_lead_of_the_workspace_with_formulas_neutralised(
        two_workspaces: TwoWorkspaces) -> None:
    ours, theirs = two_workspaces.default, two_workspaces.acme
    tag = uuid.uuid4().hex[:8]
    hostile = await ours.create_lead(companyName=f"=cmd|' /C calc'!A0 {tag}", notes="+1 555,\n\"quoted\"",
                                     customFields={"industry": "@bakery"})
    plain = [await ours.create_lead(companyName=f"Plain {tag} {n:02d}") for n in range(30)]  # more than a page
    await ours.client.patch(f"/api/leads/{plain[0]['id']}", json={"status": "retargeted"})
    await theirs.create_lead(companyName=f"Theirs {tag}")

    r = await ours.client.get("/api/leads", params={"format": "csv", "q": tag, "sort": "company_name",
                                                    "order": "asc"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="leads-')
    rows = _parse(r.text)
    assert list(rows[0]) == list(COLUMNS)
    assert {row["id"] for row in rows} == {hostile["id"], *(p["id"] for p in plain)}  # all 31, none of theirs
    assert [row["company_name"] for row in rows] == sorted(row["company_name"] for row in rows)
    dangerous = next(row for row in rows if row["id"] == hostile["id"])
    assert dangerous["company_name"] == f"'=cmd|' /C calc'!A0 {tag}"
    assert dangerous["notes"] == "'+1 555,\n\"quoted\""  # quoting keeps commas, quotes and the line break in the cell
    assert json.loads(dangerous["custom_fields"]) == {"industry": "@bakery"}  # JSON text: `{` starts no formula

    only = _parse((await ours.client.get("/api/leads", params={"format": "csv", "q": tag,
                                                                 "status": "retargeted"})).text)
    assert [row["id"] for row in only] == [plain[0]["id"]]
    empty = _parse((await theirs.client.get("/api/leads", params={"format": "csv", "q": "no-such-lead"})).text)
    assert empty == []
    bad = await ours.client.get("/api/leads", params={"format": "xlsx"})
    assert bad.status_code == 422
