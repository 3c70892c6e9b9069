"""The interface services depend on; write fakes against this Protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from plusvibe.models import (
    AddLeadsResult,
    Campaign,
    LeadIn,
    LeadRow,
    Mailbox,
    ReplyResult,
    UniboxEmail,
    UniboxPage,
    Webhook,
    Workspace,
    WorkspaceLead,
)


class PlusVibePort(Protocol):
    async def authenticate(self) -> list[Workspace]: ...
    async def list_workspaces(self) -> list[Workspace]: ...
    async def list_campaigns(
        self, *, status: str | None = None, campaign_type: str = "all", page_size: int = 100
    ) -> list[Campaign]: ...
    async def get_campaign(self, campaign_id: str) -> Campaign: ...
    async def campaign_step_count(self, campaign_id: str) -> int: ...
    async def list_mailboxes(self, *, page_size: int = 100) -> list[Mailbox]: ...
    async def add_leads(
        self,
        campaign_id: str,
        leads: Sequence[LeadIn | Mapping[str, Any]],
        *,
        skip_if_in_workspace: bool = False,
        skip_lead_in_active_pause_camp: bool = False,
        skip_lead_for_active_only_camp: bool = False,
        is_overwrite: bool = False,
        resume_camp_if_completed: bool = False,
    ) -> AddLeadsResult: ...
    async def update_lead_variables(
        self, email: str, variables: Mapping[str, Any], campaign_id: str | None = None, *, at_most_once: bool = False
    ) -> None: ...
    async def mark_lead_completed(self, campaign_id: str, email: str) -> None: ...
    async def delete_leads(
        self,
        emails: Sequence[str],
        *,
        campaign_id: str | None = None,
        workspace_wide: bool = False,
        delete_all_from_company: bool = False,
    ) -> None: ...
    async def get_lead(self, email: str, campaign_id: str | None = None) -> list[LeadRow]: ...
    async def workspace_leads(
        self,
        *,
        campaign_id: str | None = None,
        status: str | None = None,
        label: str | None = None,
        email: str | None = None,
        page_size: int = 100,
        max_pages: int = 1000,
    ) -> list[WorkspaceLead]: ...
    async def workspace_leads_page(self, page: int, limit: int = 100) -> list[WorkspaceLead]: ...
    async def list_unibox_emails(
        self,
        lead: str | None = None,
        email_type: str = "all",
        page_trail: str | None = None,
        campaign_id: str | None = None,
    ) -> UniboxPage: ...
    def iter_unibox_emails(
        self,
        lead: str | None = None,
        email_type: str = "all",
        campaign_id: str | None = None,
        max_pages: int = 50,
    ) -> AsyncIterator[UniboxEmail]: ...
    async def reply(
        self,
        reply_to_id: str,
        from_: str,
        to: str,
        subject: str,
        body_html: str,
        *,
        cc: str | None = None,
        bcc: str | None = None,
    ) -> ReplyResult: ...
    async def mark_thread_read(self, thread_id: str) -> None: ...
    async def add_webhook(
        self,
        url: str,
        event_types: Sequence[str],
        *,
        camp_ids: Sequence[str] = ("ALL",),
        name: str = "outreach",
        secret: str | None = None,
        ignore_ooo: bool = False,
        ignore_automatic: bool = False,
        alerts: Sequence[str] = (),
    ) -> str: ...
    async def list_webhooks(self) -> list[Webhook]: ...
    async def delete_webhooks(self, ids: Sequence[str]) -> None: ...
