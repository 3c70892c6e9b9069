"""The operator's view of PlusVibe's system alerts (docs/CAMPAIGN-STATES.md): the open ones of a workspace, and
Dismiss. An alert stays open until dismissed; a campaign's CAMPAIGN_AUTO_PAUSED stops showing on the campaign picker
(and its leads) as soon as PlusVibe reports the campaign running again, dismissed or not."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from leads.adapters.orm import PlusVibeAlertRow, detached
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.refusals import Refusal

AUTO_PAUSED = "CAMPAIGN_AUTO_PAUSED"


async def open_alerts(uow: LeadsUnitOfWork, *, workspace: str) -> list[PlusVibeAlertRow]:
    async with uow:
        return [detached(row) for row in await uow.alerts.open(workspace=workspace)]


async def open_campaign_alerts(uow: LeadsUnitOfWork, *, workspace: str) -> list[PlusVibeAlertRow]:
    """The open alerts that name a campaign (input of `campaign_alerts`)."""
    async with uow:
        return [detached(row) for row in await uow.alerts.open_of_campaigns(workspace=workspace)]


def campaign_alerts(alerts: Iterable[PlusVibeAlertRow], status_of: dict[str, str]) -> dict[str, PlusVibeAlertRow]:
    """The newest open alert of each campaign (`alerts` newest first), leaving out an auto-pause whose campaign
    PlusVibe no longer reports paused (`status_of`: campaign id → its status now)."""
    newest: dict[str, PlusVibeAlertRow] = {}
    for alert in alerts:
        if not alert.campaign_id or alert.campaign_id in newest:
            continue
        if alert.alert == AUTO_PAUSED and status_of.get(alert.campaign_id, "").upper() != "PAUSED":
            continue
        newest[alert.campaign_id] = alert
    return newest


async def dismiss_alert(alert_id: uuid.UUID, *, workspace: str, actor: str, uow: LeadsUnitOfWork) -> PlusVibeAlertRow:
    async with uow:
        alert = await uow.alerts.get(alert_id, workspace=workspace, for_update=True)
        if alert is None:
            raise Refusal("not_found", "alert_not_found", "No alert with that id.")
        uow.alerts.dismiss(alert, actor=actor, now=datetime.now(UTC))
        kept = detached(alert)  # the commit expires the row
        await uow.commit()
        return kept
