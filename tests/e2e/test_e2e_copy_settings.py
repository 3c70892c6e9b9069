"""Copy under the operator's control, end to end with every service its own process: after an audit the lead's copy
in PlusVibe (the simulator) is written in the workspace's tone; the operator picks another tone for the campaign,
presses PlusVibe Writeback, and PlusVibe's custom variables for the lead change to copy in that tone (the audit's
own variables stay as they were)."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_testkit import E2E
from test_e2e_seed_flow import campaign_id, lead, pushed, until

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


async def _plusvibe_variables(e2e: E2E, email: str, campaign: str) -> dict[str, Any]:
    """What PlusVibe holds for the lead in the campaign, read through its API as any client would."""
    workspace = (await e2e.api.get("/api/plusvibe/integration")).json()["workspaceId"]
    rows = (await e2e.sim.get("/api/v1/lead/get", params={"email": email, "workspace_id": workspace,
                                                          "campaign_id": campaign},
                              headers={"x-api-key": e2e.config.simulator_api_key})).json()
    assert len(rows) == 1, rows
    return dict(rows[0]["lead_data"])


async def test_a_tone_change_and_plusvibe_writeback_rewrite_the_copy_in_plusvibe(e2e: E2E) -> None:
    campaign = await campaign_id(e2e)
    email = "tess@acme-plumbing.test"
    lead_id = await pushed(e2e, campaign, "acme-plumbing.test", email, company="Acme Plumbing (copy)")
    before = await _plusvibe_variables(e2e, email, campaign)
    first = (await lead(e2e, lead_id))["plusvibeLeadData"]["lastOutboundWriteback"]

    r = await e2e.api.put(f"/api/copy-settings/campaigns/{campaign}", json={"tone": "direct"})
    assert r.status_code == 200, r.text
    # Pressed at once: the request carries the setting leads holds, so even a writeback whose copy of the setting
    # lags writes the new tone (docs/COPY-SETTINGS.md).
    assert (await e2e.api.post(f"/api/leads/{lead_id}/plusvibe/writeback")).status_code == 202

    async def landed() -> bool:
        wb = (await lead(e2e, lead_id))["plusvibeLeadData"]["lastOutboundWriteback"]
        return bool(wb.get("delivered")) and wb.get("appliedAt") != first.get("appliedAt")

    await until(landed, "the manual writeback delivered", timeout_s=60)
    last = (await lead(e2e, lead_id))["plusvibeLeadData"]["lastOutboundWriteback"]
    assert last["variables"] != first["variables"], "the writeback pressed after the change kept the old tone"
    after = await _plusvibe_variables(e2e, email, campaign)
    body_keys = [k for k in after if k.startswith(("email_body_", "email_subject_", "email_cta_"))]
    assert body_keys, after
    changed = [k for k in body_keys if after[k] != before.get(k)]
    assert changed, "PlusVibe still holds the copy of the old tone"
    assert after["audit_grade"] == before["audit_grade"]  # the audit's own variables are the same audit's
    emails = (await e2e.api.get(f"/api/leads/{lead_id}/emails")).json()
    assert "direct" in {e["tone"] for e in emails if e["type"] == "writeback"}
    await e2e.api.put(f"/api/copy-settings/campaigns/{campaign}", json={"tone": None})  # the system is shared
