"""The explicit `event_type → model` registry used to decode every event (never dispatch by import path)."""

from __future__ import annotations

from typing import Final

from contracts.audits import AuditCompleted, AuditFailed, AuditStarted
from contracts.copy_settings import CopySettingsChanged
from contracts.envelope import EventData
from contracts.integrations import PlusVibeIntegrationChanged
from contracts.leads import (
    AuditRequested,
    LeadCompletedInCampaign,
    LeadPushed,
    LeadRemovedFromCampaign,
    LeadSendAtRisk,
    LeadStatusChanged,
    LeadUpserted,
    WritebackRequested,
)
from contracts.unibox import EmailActivityReceived, ReplySent, ThreadMarkedRead
from contracts.writeback import WritebackCompleted, WritebackFailed

EVENT_MODELS: Final[dict[str, type[EventData]]] = {
    model.EVENT_TYPE: model
    for model in (
        LeadUpserted,
        LeadStatusChanged,
        AuditRequested,
        WritebackRequested,
        LeadPushed,
        LeadRemovedFromCampaign,
        LeadCompletedInCampaign,
        LeadSendAtRisk,
        AuditStarted,
        AuditCompleted,
        AuditFailed,
        WritebackCompleted,
        WritebackFailed,
        EmailActivityReceived,
        ReplySent,
        ThreadMarkedRead,
        PlusVibeIntegrationChanged,
        CopySettingsChanged,
    )
}
