"""CopySettingsChanged → the copy setting of a workspace's campaign (or of its default, campaign ""), newest version
wins: an older version arriving late, or a duplicate, changes nothing. The delivery loop and the consumers read it
when they write a lead's copy (`domain.copy_settings`); copy already written is not written again."""

from __future__ import annotations

import logging

from contracts.copy_settings import CopySettingsChanged
from servicekit.messaging.events import Decoded
from writeback.adapters.uow import WritebackUnitOfWork

log = logging.getLogger(__name__)


async def handle(item: Decoded, uow: WritebackUnitOfWork) -> None:
    event = item.event
    if not isinstance(event, CopySettingsChanged):
        raise TypeError(f"unexpected event {type(event).__name__}")
    if not await uow.copy_settings.keep_newest(event):
        log.info("copy setting not newer than the stored one; ignored", extra={"fields": {
            "workspace": event.workspace, "campaign_id": event.campaign_id, "version": event.version}})
