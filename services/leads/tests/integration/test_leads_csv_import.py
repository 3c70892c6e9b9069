"""CSV import through the API on PostgreSQL and Kafka: upload, map, preview, import with each dedupe choice, per-row
errors (refused, or the valid rows imported), idempotent re-import, the bad-file matrix, and a failed import leaving
nothing behind."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from typing import Any

import pytest
from leads_testkit import Harness, TwoWorkspaces

from leads.domain.csv_export import BOM
from leads.handlers import import_leads

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


async def _upload(h: Harness, content: bytes, **params: str) -> dict[str, Any]:
    r = await h.client.post("/api/leads/imports/uploads", content=content, params={"filename": "leads.csv", **params},
                            headers={"Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _finished(h: Harness, import_id: str) -> dict[str, Any]:
    seen: list[int] = []
    for _ in range(600):
        body = (await h.client.get(f"/api/leads/imports/{import_id}")).json()
        seen.append(body["processed"])
        if body["status"] != "running":
            if body["status"] == "done":
                assert seen == sorted(seen), seen  # progress never goes back (a failed import reports 0 done)
            return dict(body)
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not finish")


async def _import(h: Harness, upload: dict[str, Any], **options: Any) -> dict[str, Any]:
    body = {"uploadId": upload["uploadId"], "mapping": upload["suggestedMapping"], **options}
    r = await h.client.post("/api/leads/imports", json=body)
    assert r.status_code == 202, r.text
    return await _finished(h, r.json()["id"])


async def _leads(h: Harness, q: str) -> list[dict[str, Any]]:
    r = await h.client.get("/api/leads", params={"q": q, "pageSize": 200})
    return list(r.json()["items"])


async def test_a_file_is_uploaded_mapped_and_imported_with_its_story(harness: Harness) -> None:
    tag = uuid.uuid4().hex[:8]
    content = BOM.encode() + _csv([
        ["Company", "Website", "First Name", "Email Address", "Industry", "Ignored"],
        [f"Acme {tag}", f"https://www.acme-{tag}.test/about", "Ada", f"ada-{tag}@acme.test", "bakery", "x"],
        [f"Multi\nline, {tag}", f"multi-{tag}.test", "", f"bo-{tag}@multi.test", "", ""],
    ])
    upload = await _upload(harness, content)
    assert upload["headers"] == ["Company", "Website", "First Name", "Email Address", "Industry", "Ignored"]
    assert upload["rows"] == 2
    assert upload["suggestedMapping"] == {"company_name": "Company", "domain": "Website", "first_name": "First Name",
                                          "email": "Email Address"}
    upload["suggestedMapping"]["custom.industry"] = "Industry"

    plan = await harness.client.post("/api/leads/imports/preview", json={
        "uploadId": upload["uploadId"], "mapping": upload["suggestedMapping"]})
    assert plan.status_code == 200, plan.text
    assert (plan.json()["create"], plan.json()["failed"]) == (2, 0)
    assert await _leads(harness, tag) == []  # a preview writes nothing

    done = await _import(harness, upload)
    assert (done["status"], done["created"], done["processed"], done["total"]) == ("done", 2, 2, 2)
    leads = {lead["companyName"]: lead for lead in await _leads(harness, tag)}
    acme = leads[f"Acme {tag}"]
    assert acme["domain"] == f"www.acme-{tag}.test"  # the lead form's normalisation
    assert acme["contact"]["email"] == f"ada-{tag}@acme.test"
    assert acme["customFields"] == {"industry": "bakery"}
    assert f"Multi\nline, {tag}" in leads  # a quoted line break stays in its cell
    history = (await harness.client.get(f"/api/leads/{acme['id']}/history")).json()
    assert [(h["toStatus"], h["reason"], h["actor"]) for h in history] == [("new", "imported", "operator:tester")]

    again = await _upload(harness, _csv([["Email Address", "Industry"], ["x@y.test", "z"]]))
    assert again["suggestedMapping"] == {"email": "Email Address", "custom.industry": "Industry"}  # remembered


async def test_each_dedupe_choice_against_existing_leads_and_within_the_file(harness: Harness) -> None:
    tag = uuid.uuid4().hex[:8]
    existing = await harness.create_lead(companyName=f"Old {tag}", domain=f"old-{tag}.test",
                                         contact={"email": f"old-{tag}@x.test", "firstName": "Kept"})
    rows = [["email", "company", "first name"],
            [f"OLD-{tag}@x.test", f"New {tag}", ""],  # matches the existing lead (case-insensitive)
            [f"fresh-{tag}@x.test", f"Fresh {tag}", "Fay"],
            [f"fresh-{tag}@x.test", f"Fresh again {tag}", ""]]  # a duplicate within the file

    skip = await _import(harness, await _upload(harness, _csv(rows)), dedupe="skip")
    assert (skip["created"], skip["updated"], skip["skipped"]) == (1, 0, 2)
    names = sorted(lead["companyName"] for lead in await _leads(harness, tag))
    assert names == [f"Fresh {tag}", f"Old {tag}"]

    update = await _import(harness, await _upload(harness, _csv([*rows, ["", "", ""]])), dedupe="update")
    assert (update["created"], update["updated"], update["skipped"]) == (0, 3, 0)
    lead = await harness.lead(existing["id"])
    assert lead["companyName"] == f"New {tag}" and lead["contact"]["firstName"] == "Kept"  # empty cells clear nothing
    names = sorted(lead["companyName"] for lead in await _leads(harness, tag))
    assert names == [f"Fresh again {tag}", f"New {tag}"]

    both = await _import(harness, await _upload(harness, _csv(rows[:2])), dedupe="keep_both")
    assert both["created"] == 1
    assert len(await _leads(harness, f"old-{tag}@x.test")) == 2

    by_domain = await _import(harness, await _upload(harness, _csv([["email", "website"],
                                                                    [f"new-{tag}@x.test", f"OLD-{tag}.test"]])),
                              dedupe="skip", matchBy="domain")
    assert by_domain["skipped"] == 1


async def test_invalid_rows_refuse_the_file_or_are_left_out_and_listed(harness: Harness) -> None:
    tag = uuid.uuid4().hex[:8]
    content = _csv([["email", "company", "website"],
                    [f"good-{tag}@x.test", f"Good {tag}", ""],
                    ["not-an-email", f"Bad {tag}", ""],
                    ["", f"Nothing {tag}", ""],
                    [f"also-{tag}@x.test", "=cmd|' /C calc'!A0", "exa mple"],
                    [f"extra-{tag}@x.test", "A", "a.test", "unexpected"]])
    upload = await _upload(harness, content)
    body = {"uploadId": upload["uploadId"], "mapping": upload["suggestedMapping"]}
    refused = await harness.client.post("/api/leads/imports", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["reason"] == "rows_invalid"
    report = refused.json()["import"]
    assert (report["status"], report["failed"], report["created"]) == ("refused", 4, 0)
    assert {(e["row"], e["reason"]) for e in report["errors"]} == {
        (3, "invalid_value"), (4, "email_and_domain_missing"), (5, "invalid_value"), (6, "too_many_cells")}
    assert await _leads(harness, tag) == []  # nothing half-imported

    errors = await harness.client.get(report["errorsUrl"])
    assert errors.status_code == 200 and errors.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(errors.text.removeprefix(BOM), newline="")))
    assert lines[0] == ["line", "column", "reason", "message", "email", "company", "website"]
    assert [line[0] for line in lines[1:]] == ["3", "4", "5", "6"]
    formula_row = next(line for line in lines if line[0] == "5")
    assert formula_row[5] == "'=cmd|' /C calc'!A0"  # neutralised in the file an operator opens
    assert formula_row[1] == "website"

    valid = await harness.client.post("/api/leads/imports", json={**body, "onErrors": "import_valid"})
    assert valid.status_code == 202, valid.text
    done = await _finished(harness, valid.json()["id"])
    assert (done["status"], done["created"], done["failed"]) == ("done", 1, 4)
    assert [lead["companyName"] for lead in await _leads(harness, tag)] == [f"Good {tag}"]


async def test_importing_the_same_file_again_is_the_same_import(harness: Harness) -> None:
    tag = uuid.uuid4().hex[:8]
    content = _csv([["email"], *([f"p{n}-{tag}@x.test"] for n in range(5))])
    first = await _import(harness, await _upload(harness, content), dedupe="keep_both")
    upload = await _upload(harness, content)  # the same bytes uploaded again
    r = await harness.client.post("/api/leads/imports", json={
        "uploadId": upload["uploadId"], "mapping": upload["suggestedMapping"], "dedupe": "keep_both"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == first["id"] and r.json()["replayed"] is True
    assert len(await _leads(harness, tag)) == 5


@pytest.mark.parametrize(("content", "params", "status", "reason"), [
    (b"email,company\r\nada@x.test,Caf\xe9\r\n", {}, 422, "encoding_invalid"),
    (b"", {}, 422, "file_empty"),
    (b"email,company\r\n", {}, 422, "file_empty"),
    (b"email,Email\r\na@x.test,b@x.test\r\n", {}, 422, "duplicate_header"),
    (b"email\r\n\"never closed\r\n", {}, 201, None),  # an open quote runs to the end: one (invalid) row
    (b"email\r\na@x.test\r\n", {"encoding": "ebcdic"}, 422, "invalid_request"),
])
async def test_unreadable_files_are_refused_with_a_reason(harness: Harness, content: bytes, params: dict[str, str],
                                                          status: int, reason: str | None) -> None:
    r = await harness.client.post("/api/leads/imports/uploads", content=content, params=params)
    assert r.status_code == status, r.text
    if reason is not None:
        assert r.json()["reason"] == reason


async def test_a_windows_1252_file_reads_when_its_encoding_is_chosen(harness: Harness) -> None:
    tag = uuid.uuid4().hex[:8]
    content = f"email,company\r\nzoe-{tag}@x.test,Café {tag}\r\n".encode("windows-1252")
    upload = await _upload(harness, content, encoding="windows-1252")
    await _import(harness, upload, encoding="windows-1252")
    assert [lead["companyName"] for lead in await _leads(harness, tag)] == [f"Café {tag}"]


async def test_mapping_problems_and_oversized_files_are_refused(harness: Harness) -> None:
    upload = await _upload(harness, _csv([["name", "mail"], ["A", "a@x.test"]]))
    cases = [({"company_name": "name"}, "email_column_missing"),
             ({"email": "nope"}, "mapping_header_unknown"),
             ({"email": "mail", "custom.Bad Name": "name"}, "mapping_custom_field_invalid"),
             ({"email": "mail", "password": "name"}, "mapping_field_unknown"),
             ({"email": "mail", "first_name": "mail"}, "mapping_header_twice")]
    for mapping, reason in cases:
        r = await harness.client.post("/api/leads/imports", json={"uploadId": upload["uploadId"], "mapping": mapping})
        assert (r.status_code, r.json()["reason"]) == (422, reason), (mapping, r.text)
    missing = await harness.client.post("/api/leads/imports", json={"uploadId": str(uuid.uuid4()),
                                                                    "mapping": {"email": "mail"}})
    assert (missing.status_code, missing.json()["reason"]) == (404, "upload_not_found")
    limit = harness.service.settings.import_max_bytes
    big = await harness.client.post("/api/leads/imports/uploads", content=b"email\r\n" + b"a" * limit)
    assert (big.status_code, big.json()["reason"]) == (413, "file_too_large")
    unknown = await harness.client.get(f"/api/leads/imports/{uuid.uuid4()}")
    assert (unknown.status_code, unknown.json()["reason"]) == (404, "import_not_found")


async def test_an_import_that_fails_midway_leaves_no_lead_and_runs_again(harness: Harness,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    tag = uuid.uuid4().hex[:8]
    upload = await _upload(harness, _csv([["email"], *([f"m{n}-{tag}@x.test"] for n in range(30))]))
    monkeypatch.setattr(import_leads, "PROGRESS_EVERY", 10)
    real_progress = import_leads._progress
    calls = 0

    async def failing_progress(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # 20 leads written in the import's transaction, progress reported once
            raise ConnectionError("the database went away")
        await real_progress(*args, **kwargs)

    monkeypatch.setattr(import_leads, "_progress", failing_progress)
    r = await harness.client.post("/api/leads/imports", json={"uploadId": upload["uploadId"],
                                                              "mapping": upload["suggestedMapping"]})
    failed = await _finished(harness, r.json()["id"])
    assert failed["status"] == "failed" and "nothing was imported" in failed["message"]
    assert await _leads(harness, tag) == []

    monkeypatch.setattr(import_leads, "_progress", real_progress)
    again = await harness.client.post("/api/leads/imports", json={"uploadId": upload["uploadId"],
                                                                  "mapping": upload["suggestedMapping"]})
    assert again.status_code == 202 and again.json()["id"] == failed["id"]
    assert (await _finished(harness, failed["id"]))["created"] == 30
    assert len(await _leads(harness, tag)) == 30


async def test_an_import_of_one_workspace_is_invisible_to_another(two_workspaces: TwoWorkspaces) -> None:
    ours, theirs = two_workspaces.default, two_workspaces.acme
    tag = uuid.uuid4().hex[:8]
    upload = await _upload(ours, _csv([["email"], [f"iso-{tag}@x.test"]]))
    done = await _import(ours, upload)
    assert (await theirs.client.get(f"/api/leads/imports/{done['id']}")).status_code == 404
    assert (await theirs.client.get(f"/api/leads/imports/{done['id']}/errors.csv")).status_code == 404
    foreign = await theirs.client.post("/api/leads/imports", json={"uploadId": upload["uploadId"],
                                                                   "mapping": {"email": "email"}})
    assert (foreign.status_code, foreign.json()["reason"]) == (404, "upload_not_found")
    assert await _leads(theirs, tag) == []
