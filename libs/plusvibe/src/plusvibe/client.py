"""Async PlusVibe client: every endpoint the services use, on top of ``transport.Caller``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import httpx

from plusvibe.errors import NotFoundError
from plusvibe.limits import close_slot_stores
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
    as_list,
)
from plusvibe.settings import PlusVibeSettings
from plusvibe.transport import Caller

CAMPAIGN_PAGE_MAX = 100
WORKSPACE_LEADS_PAGE_MAX = 100


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class PlusVibeClient:
    """One workspace of one account. Limiter and breaker are shared per account process-wide."""

    def __init__(self, settings: PlusVibeSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(follow_redirects=False, trust_env=False)
        self._caller = Caller(settings, self._http)

    def __repr__(self) -> str:
        return f"PlusVibeClient(base_url={self.settings.base_url!r}, workspace_id={self.settings.workspace_id!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
        await close_slot_stores()

    @property
    def _ws(self) -> str:
        return self.settings.workspace_id

    async def _get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        query.setdefault("workspace_id", self._ws)
        return await self._caller.call("GET", path, params=query)

    async def _post(
        self,
        path: str,
        body: dict[str, Any],
        *,
        params: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> Any:
        payload = {"workspace_id": self._ws, **body}
        return await self._caller.call("POST", path, params=params, body=payload, idempotent=idempotent)

    # --- account ---------------------------------------------------------------------------
    async def authenticate(self) -> list[Workspace]:
        """Validate the key; return the account's workspaces."""
        payload = await self._caller.call("GET", "/authenticate")
        return [Workspace.model_validate(w) for w in as_list(payload, "workspaces")]

    async def list_workspaces(self) -> list[Workspace]:
        return await self.authenticate()

    # --- campaigns -------------------------------------------------------------------------
    async def list_campaigns(
        self,
        *,
        status: str | None = None,
        campaign_type: str = "all",
        page_size: int = CAMPAIGN_PAGE_MAX,
    ) -> list[Campaign]:
        """All campaigns (every skip/limit page), with sequences and variation templates."""
        limit = min(page_size, CAMPAIGN_PAGE_MAX)
        campaigns: list[Campaign] = []
        skip = 0
        while True:
            payload = await self._get(
                "/campaign/list-all",
                skip=skip,
                limit=limit,
                campaign_type=campaign_type,
                status=status,
            )
            page = as_list(payload, "campaigns", "data")
            campaigns.extend(Campaign.model_validate(c) for c in page)
            if len(page) < limit:
                return campaigns
            skip += limit

    async def get_campaign(self, campaign_id: str) -> Campaign:
        payload = await self._get("/campaign/list-all", campaign_id=campaign_id, skip=0, limit=1)
        for item in as_list(payload, "campaigns", "data"):
            campaign = Campaign.model_validate(item)
            if campaign.id == campaign_id:
                return campaign
        raise NotFoundError("campaign not found", status_code=404, path="/campaign/list-all")

    async def campaign_step_count(self, campaign_id: str) -> int:
        return (await self.get_campaign(campaign_id)).step_count

    # --- mailboxes -------------------------------------------------------------------------
    async def list_mailboxes(self, *, page_size: int = 100) -> list[Mailbox]:
        mailboxes: list[Mailbox] = []
        skip = 0
        while True:
            payload = await self._get("/account/list", skip=skip, limit=page_size)
            page = as_list(payload, "accounts", "data")
            mailboxes.extend(Mailbox.model_validate(a) for a in page)
            if len(page) < page_size:
                return mailboxes
            skip += page_size

    # --- leads -----------------------------------------------------------------------------
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
    ) -> AddLeadsResult:
        """Enrol leads in batches of ≤100; return summed counts.

        Retried on transient failures: the same batch sent twice is recognised as
        ``already_in_campaign`` (plus the skip flags), so it never enrols twice.
        """
        models = [lead if isinstance(lead, LeadIn) else LeadIn.model_validate(lead) for lead in leads]
        total = AddLeadsResult(batches=0)
        for batch in _chunks(models, self.settings.lead_batch_size):
            payload = await self._post(
                "/lead/add",
                {
                    "campaign_id": campaign_id,
                    "leads": [lead.to_payload() for lead in batch],
                    "skip_if_in_workspace": skip_if_in_workspace,
                    "skip_lead_in_active_pause_camp": skip_lead_in_active_pause_camp,
                    "skip_lead_for_active_only_camp": skip_lead_for_active_only_camp,
                    "is_overwrite": is_overwrite,
                    "resume_camp_if_completed": resume_camp_if_completed,
                },
            )
            result = AddLeadsResult.model_validate(payload if isinstance(payload, dict) else {})
            if not result.total_sent:
                result.total_sent = len(batch)
            total = total.merged(result)
        return total

    async def update_lead_variables(
        self, email: str, variables: Mapping[str, Any], campaign_id: str | None = None, *, at_most_once: bool = False
    ) -> None:
        """Upsert custom variables (and ``label``) of a lead; an idempotent overwrite, so a send whose outcome is
        unknown is repeated. With ``at_most_once`` it is sent at most once per call instead: an unknown outcome
        (connection lost after sending, a 5xx) raises ``AmbiguousSendError``, and the caller reads the lead back
        (``get_lead``) before sending again (writeback's delivery worker does, so PlusVibe sees one update)."""
        body: dict[str, Any] = {"email": email, "variables": dict(variables)}
        if campaign_id is not None:
            body["campaign_id"] = campaign_id
        await self._post("/lead/data/update", body, idempotent=not at_most_once)

    async def mark_lead_completed(self, campaign_id: str, email: str) -> None:
        await self._post(
            "/lead/update/status",
            {"campaign_id": campaign_id, "email": email, "new_status": "COMPLETED"},
        )

    async def delete_leads(
        self,
        emails: Sequence[str],
        *,
        campaign_id: str | None = None,
        workspace_wide: bool = False,
        delete_all_from_company: bool = False,
    ) -> None:
        """Delete leads from one campaign; from every campaign only with ``workspace_wide=True``."""
        if workspace_wide and campaign_id is not None:
            raise ValueError("pass either campaign_id or workspace_wide=True, not both")
        if not workspace_wide and not campaign_id:
            raise ValueError("campaign_id is required unless workspace_wide=True")
        for batch in _chunks(list(emails), 100):
            body: dict[str, Any] = {
                "delete_list": list(batch),
                "delete_all_from_company": delete_all_from_company,
            }
            if campaign_id is not None:
                body["campaign_id"] = campaign_id
            await self._post("/lead/delete", body)

    async def get_lead(self, email: str, campaign_id: str | None = None) -> list[LeadRow]:
        """Every (email, campaign) row of a lead, with ``lead_data`` incl. custom variables."""
        payload = await self._get("/lead/get", email=email, campaign_id=campaign_id)
        return [LeadRow.model_validate(row) for row in as_list(payload, "data", "leads")]

    async def workspace_leads(
        self,
        *,
        campaign_id: str | None = None,
        status: str | None = None,
        label: str | None = None,
        email: str | None = None,
        page_size: int = WORKSPACE_LEADS_PAGE_MAX,
        max_pages: int = 1000,
    ) -> list[WorkspaceLead]:
        """Walk ``/lead/workspace-leads`` (1-based page/limit) until a short page."""
        out: list[WorkspaceLead] = []
        for page in range(1, max_pages + 1):
            rows = await self.workspace_leads_page(
                page, page_size, campaign_id=campaign_id, status=status, label=label, email=email
            )
            out.extend(rows)
            if len(rows) < page_size:
                break
        return out

    async def workspace_leads_page(
        self,
        page: int,
        limit: int = WORKSPACE_LEADS_PAGE_MAX,
        *,
        campaign_id: str | None = None,
        status: str | None = None,
        label: str | None = None,
        email: str | None = None,
    ) -> list[WorkspaceLead]:
        """One page of ``/lead/workspace-leads`` (``page`` from 1, ``limit`` at most 100; PlusVibe answers a bare
        array). A page shorter than ``limit`` is the last one. One request: a caller that walks the pages itself
        (the leads service's first sync) can commit each page before it asks for the next."""
        if page < 1:
            raise ValueError("page starts at 1")
        if not 1 <= limit <= WORKSPACE_LEADS_PAGE_MAX:
            raise ValueError(f"limit must be between 1 and {WORKSPACE_LEADS_PAGE_MAX}")
        payload = await self._get(
            "/lead/workspace-leads",
            campaign_id=campaign_id,
            status=status,
            label=label,
            email=email,
            page=page,
            limit=limit,
        )
        return [WorkspaceLead.model_validate(r) for r in as_list(payload, "data", "leads")]

    # --- unibox ----------------------------------------------------------------------------
    async def list_unibox_emails(
        self,
        lead: str | None = None,
        email_type: str = "all",
        page_trail: str | None = None,
        campaign_id: str | None = None,
    ) -> UniboxPage:
        payload = await self._get(
            "/unibox/emails",
            lead=lead,
            email_type=email_type,
            page_trail=page_trail,
            campaign_id=campaign_id,
        )
        if isinstance(payload, list):
            payload = {"data": payload}
        return UniboxPage.model_validate(payload)

    async def iter_unibox_emails(
        self,
        lead: str | None = None,
        email_type: str = "all",
        campaign_id: str | None = None,
        max_pages: int = 50,
    ) -> AsyncIterator[UniboxEmail]:
        """Walk the ``page_trail`` cursor. With ``lead`` set, also filters client-side (the real
        API was reported to ignore ``lead=``)."""
        trail: str | None = None
        wanted = lead.lower() if lead else None
        for _ in range(max_pages):
            page = await self.list_unibox_emails(lead, email_type, trail, campaign_id)
            for item in page.data:
                if wanted is None or wanted in {
                    item.lead.lower(),
                    item.from_address_email.lower(),
                    *(a.lower() for a in item.to_address_email_list),
                }:
                    yield item
            if not page.page_trail or not page.data:
                return
            trail = page.page_trail

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
    ) -> ReplyResult:
        """Send a reply. NOT idempotent: an ambiguous failure raises ``AmbiguousSendError`` and
        is never retried here — the caller reconciles by reading the thread."""
        body: dict[str, Any] = {
            "reply_to_id": reply_to_id,
            "from": from_,
            "to": to,
            "subject": subject,
            "body": body_html,
        }
        if cc:
            body["cc"] = cc
        if bcc:
            body["bcc"] = bcc
        payload = await self._caller.call(
            "POST",
            "/unibox/emails/reply",
            params={"workspace_id": self._ws},
            body=body,
            idempotent=False,
        )
        return ReplyResult.model_validate(payload if isinstance(payload, dict) else {})

    async def mark_thread_read(self, thread_id: str) -> None:
        await self._post(f"/unibox/threads/{thread_id}/mark-as-read", {})

    # --- webhooks --------------------------------------------------------------------------
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
    ) -> str:
        """Register a hook. `alerts` names the SYSTEM_ALERT kinds it receives (PlusVibe takes them as an object of
        name → {type}; only with SYSTEM_ALERT in `event_types` and `camp_ids` = ["ALL"])."""
        body: dict[str, Any] = {
            "name": name,
            "url": url,
            "camp_ids": list(camp_ids),
            "event_types": list(event_types),
            "ignore_ooo": int(ignore_ooo),
            "ignore_automatic": int(ignore_automatic),
        }
        if secret is not None:
            body["secret"] = secret
        if alerts:
            body["alerts"] = {name: {"type": "URGENT"} for name in alerts}
        # Not idempotent in theory, but a duplicate hook is visible and removable; keep retries.
        payload = await self._post("/hook/add", body)
        return str(payload.get("_id") or payload.get("id") or "") if isinstance(payload, dict) else ""

    async def list_webhooks(self) -> list[Webhook]:
        payload = await self._get("/hook/list")
        return [Webhook.model_validate(h) for h in as_list(payload, "hooks", "data")]

    async def delete_webhooks(self, ids: Sequence[str]) -> None:
        await self._caller.call(
            "DELETE",
            "/hook/del",
            params={"workspace_id": self._ws},
            body={"workspace_id": self._ws, "ids": list(ids)},
        )
