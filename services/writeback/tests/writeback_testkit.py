"""Event builders and fakes shared by the writeback tests."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.audits import AuditCompleted
from contracts.common import AuditProfile, CategoryScores, Contact, LeadSnapshot
from contracts.copy_settings import CopySettingsChanged, copy_settings_key
from contracts.envelope import Envelope, EventData
from contracts.integrations import DEFAULT_WORKSPACE, PlusVibeIntegrationChanged
from contracts.leads import LeadPushed, LeadRemovedFromCampaign, LeadUpserted, WritebackRequested
from contracts.status import LeadStatus
from contracts.topics import (
    AUDIT_COMPLETED,
    COPY_SETTINGS_CHANGED,
    LEAD_PUSHED,
    LEAD_REMOVED_FROM_CAMPAIGN,
    LEAD_UPSERTED,
    PLUSVIBE_INTEGRATION_CHANGED,
    WRITEBACK_COMPLETED,
    WRITEBACK_FAILED,
    WRITEBACK_REQUESTED,
)
from plusvibe.credentials import KeyRing, fingerprint
from plusvibe.errors import AmbiguousSendError, NotFoundError
from plusvibe.models import LeadRow
from servicekit.messaging.events import Decoded, new_envelope

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
# Every topic writeback consumes or produces (created per test with the test's prefix).
TOPICS = (LEAD_UPSERTED, LEAD_PUSHED, LEAD_REMOVED_FROM_CAMPAIGN, AUDIT_COMPLETED, WRITEBACK_REQUESTED,
          PLUSVIBE_INTEGRATION_CHANGED, COPY_SETTINGS_CHANGED, WRITEBACK_COMPLETED, WRITEBACK_FAILED)
# `async with run_service(**settings) as svc` (fixture of tests/integration/conftest.py).
ServiceRunner = Callable[..., contextlib.AbstractAsyncContextManager[Any]]

PROFILE: dict[str, str] = {
    "audit_grade": "C", "audit_score": "72", "audit_url": "https://reports.test/r/abc123", "audit_date": "2026-11-01",
    "top_issue": "Visitors see a 'Not secure' warning", "second_issue": "Pages load slowly on phones",
    "issues_found": "7", "seo_score": "70", "performance_score": "60", "security_score": "50",
    "accessibility_score": "80", "mobile_ready": "yes", "load_time_s": "2.3", "https_status": "no_redirect",
    "ssl_days_left": "40", "meta_description_status": "missing", "h1_status": "ok", "email_auth_status": "partial",
}


def decoded(data: EventData, *, workspace_id: str | None = None) -> Decoded:
    """The event as a consumer decodes it; `workspace_id` None: published before workspaces (belongs to default)."""
    return Decoded(envelope=new_envelope(data, workspace_id=workspace_id), event=data)


def lead_upserted(lead_id: uuid.UUID, *, version: int = 1, email: str | None = "jo@acme.test",
                  campaign_id: str | None = None, company: str = "Acme", at: datetime = T0) -> LeadUpserted:
    snapshot = LeadSnapshot(lead_id=lead_id, version=version, company_name=company, domain="acme.test",
                            contact=Contact(first_name="Jo", email=email), status=LeadStatus.NEW,
                            campaign_id=campaign_id, created_at=T0, updated_at=at)
    return LeadUpserted(lead_id=lead_id, lead=snapshot)


def lead_pushed(lead_id: uuid.UUID, campaign_id: str, email: str, *, at: datetime = T0 + timedelta(minutes=1)
                ) -> LeadPushed:
    return LeadPushed(lead_id=lead_id, campaign_id=campaign_id, email=email, variables={}, pushed_at=at)


def lead_removed(lead_id: uuid.UUID, campaign_id: str, email: str, *, at: datetime) -> LeadRemovedFromCampaign:
    return LeadRemovedFromCampaign(lead_id=lead_id, campaign_id=campaign_id, email=email, removed_at=at)


def audit_completed(lead_id: uuid.UUID, *, run_id: uuid.UUID | None = None, requested_at: datetime = T0,
                    profile: Mapping[str, str] | None = None) -> AuditCompleted:
    return AuditCompleted(
        lead_id=lead_id, audit_run_id=run_id or uuid.uuid4(), domain="acme.test", requested_at=requested_at,
        completed_at=requested_at + timedelta(seconds=5), grade="C", score=72,
        category_scores=CategoryScores(seo=70, performance=60, security=50, mobile=100, accessibility=80),
        top_issue=PROFILE["top_issue"], second_issue=PROFILE["second_issue"], summary="A mixed result.",
        report_url=PROFILE["audit_url"], profile=AuditProfile(**(dict(profile) if profile else PROFILE)),
    )


def writeback_requested(lead_id: uuid.UUID, campaign_id: str, *, request_id: uuid.UUID | None = None,
                        run_id: uuid.UUID | None = None, tone: str | None = None,
                        steps: int | None = None) -> WritebackRequested:
    return WritebackRequested(lead_id=lead_id, request_id=request_id or uuid.uuid4(), campaign_id=campaign_id,
                              audit_run_id=run_id, requested_by="operator@agency.test", requested_at=T0,
                              tone=tone, steps=steps)  # type: ignore[arg-type]


class FakePlusVibe:
    """Records `update_lead_variables` calls; `fail_with` scripts exceptions for the next calls (not applied);
    `cut_off_after_applying` makes the next calls apply, then lose their answer (`AmbiguousSendError`)."""

    def __init__(self, steps: Mapping[str, int] | None = None) -> None:
        self.steps = dict(steps or {})
        self.updates: list[tuple[str, dict[str, Any], str | None]] = []
        self.step_lookups = 0
        self.fail_with: list[BaseException] = []
        self.read_backs = 0
        self.cut_off_after_applying = 0

    async def campaign_step_count(self, campaign_id: str) -> int:
        self.step_lookups += 1
        if campaign_id not in self.steps:
            raise NotFoundError("campaign not found", status_code=404)
        return self.steps[campaign_id]

    async def update_lead_variables(self, email: str, variables: Mapping[str, Any],
                                    campaign_id: str | None = None, *, at_most_once: bool = False) -> None:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.updates.append((email, dict(variables), campaign_id))
        if self.cut_off_after_applying:  # PlusVibe applied it; the answer is lost on the way back
            self.cut_off_after_applying -= 1
            raise AmbiguousSendError("connection lost after sending (RemoteProtocolError); outcome unknown")

    async def get_lead(self, email: str, campaign_id: str | None = None) -> list[LeadRow]:
        """The lead as the recorded updates left it (the delivery worker's read-back after an unknown outcome)."""
        self.read_backs += 1
        held: dict[str, Any] = {}
        for sent_to, variables, campaign in self.updates:
            if sent_to == email and campaign == campaign_id:
                held.update(variables)
        if not held:
            return []
        return [LeadRow.model_validate({"campaign": campaign_id or "", "lead_data": {"email": email, **held}})]

    def __getattr__(self, name: str) -> Any:  # the rest of PlusVibePort is not used by writeback
        raise AttributeError(name)


def envelopes_of(rows: Sequence[Any]) -> list[Envelope]:
    return [Envelope.model_validate_json(bytes(r)) for r in rows]


async def publish(bootstrap: str, prefix: str, events: Sequence[EventData], *,
                  workspace_id: str | None = None) -> list[Envelope]:
    """Publishes events to their registry topics (keyed by lead), in order per topic, in platform workspace
    `workspace_id` (None: as before workspaces, i.e. `default`)."""
    from contracts.topics import TOPIC_BY_EVENT_TYPE
    from servicekit.testing import publish_envelopes

    by_topic: dict[str, list[Envelope]] = {}
    envelopes = []
    for data in events:
        env = new_envelope(data, workspace_id=workspace_id)
        envelopes.append(env)
        by_topic.setdefault(f"{prefix}{TOPIC_BY_EVENT_TYPE[env.event_type].name}", []).append(env)
    for topic, batch in by_topic.items():
        await publish_envelopes(bootstrap, topic, batch)
    return envelopes


def enrol(state: Any, workspace_id: str, campaign_id: str, emails: Sequence[str]) -> None:
    """What leads' push does in PlusVibe (`/lead/add`), done directly on the simulator's state."""
    result = state.api_lead_add({"workspace_id": workspace_id, "campaign_id": campaign_id,
                                 "leads": [{"email": e} for e in emails]})
    assert result["leads_uploaded"] == len(emails), result


def sim_variables(state: Any, campaign_id: str, email: str) -> dict[str, Any]:
    with state.lock:
        return dict(state.leads[f"{campaign_id}:{email.lower()}"]["custom_variables"])


def update_requests(state: Any) -> list[Any]:
    return state.request_log("/api/v1/lead/data/update")  # type: ignore[no-any-return]


def integration_changed(version: int, *, keyring: KeyRing | None = None, api_key: str = "",
                        plusvibe_workspace_id: str = "", workspace: str = DEFAULT_WORKSPACE,
                        at: datetime = T0) -> PlusVibeIntegrationChanged:
    """What leads announces: connected with `api_key` sealed by `keyring` for `workspace`, or (no key) disconnected."""
    connected = bool(api_key)
    return PlusVibeIntegrationChanged(
        workspace=workspace, connected=connected, plusvibe_workspace_id=plusvibe_workspace_id if connected else "",
        sealed_api_key=keyring.seal(api_key, context=workspace) if keyring is not None and connected else "",
        key_fingerprint=fingerprint(api_key) if connected else "", version=version,
        changed_at=at + timedelta(seconds=version))


async def publish_integrations(bootstrap: str, prefix: str, events: Sequence[PlusVibeIntegrationChanged]) -> None:
    """Publishes in order to the compacted integration topic, keyed by workspace as leads' relay keys them."""
    from servicekit.testing import envelope_record, publish_raw

    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
    for data in events:
        _, value, headers = envelope_record(new_envelope(data))
        records.append((data.workspace.encode(), value, headers))
    await publish_raw(bootstrap, f"{prefix}{PLUSVIBE_INTEGRATION_CHANGED.name}", records)


def copy_settings_changed(version: int, *, workspace: str = DEFAULT_WORKSPACE, campaign_id: str = "",
                          tone: str | None = None, steps: int | None = None, at: datetime = T0) -> CopySettingsChanged:
    """What leads announces when an operator sets the copy of a campaign (`campaign_id` "": the workspace default)."""
    return CopySettingsChanged.model_validate({
        "workspace": workspace, "campaign_id": campaign_id, "tone": tone, "steps": steps, "version": version,
        "changed_at": at + timedelta(seconds=version)})


async def publish_copy_settings(bootstrap: str, prefix: str, events: Sequence[CopySettingsChanged]) -> None:
    """Publishes in order to the compacted copy settings topic, keyed `<workspace>:<campaign_id>` and in the setting's
    workspace, as leads' relay publishes them."""
    from servicekit.testing import envelope_record, publish_raw

    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
    for data in events:
        _, value, headers = envelope_record(new_envelope(data, workspace_id=data.workspace))
        records.append((copy_settings_key(data.workspace, data.campaign_id).encode(), value, headers))
    await publish_raw(bootstrap, f"{prefix}{COPY_SETTINGS_CHANGED.name}", records)
