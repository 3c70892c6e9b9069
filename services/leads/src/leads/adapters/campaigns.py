"""What leads needs to know of a PlusVibe campaign: status, step count, its compiled templates and the sender
fields of the mailboxes that may send it. Read fresh for a push (an operator may have just edited the
templates in PlusVibe); the preview and the periodic check may use a copy up to `ttl_s` old."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from leads.domain.campaign_intake import Intake, intake
from leads.domain.send_dry_run.campaign import CampaignTemplates, TemplateFault, Variation
from leads.domain.send_dry_run.context import sender_context
from plusvibe.errors import PlusVibeError
from plusvibe.models import Campaign, Mailbox
from plusvibe.port import PlusVibePort

MAILBOX_TTL_S = 300.0  # mailboxes change rarely; a push must not re-list them for every batch


@dataclass(frozen=True)
class CampaignInfo:
    id: str
    name: str
    status: str
    steps: int
    templates: CampaignTemplates | None = None  # None when the campaign has no readable templates
    fault: TemplateFault | None = None  # a template that cannot be rendered
    email_accounts: tuple[str, ...] = ()
    fingerprint: str = ""  # changes when the sequence's text changes
    senders: tuple[Mapping[str, str], ...] = field(default=())
    campaign_type: str = ""  # parent | subseq (PlusVibe's campaign_type)

    @property
    def intake(self) -> Intake:
        """Whether a push may enrol leads into it now (domain/campaign_intake.py)."""
        return intake(self.status, self.campaign_type, self.name)


def _account_email(account: object) -> str:
    if isinstance(account, str):
        return account
    if isinstance(account, Mapping):
        return str(account.get("email") or account.get("email_account") or "")
    return ""


def _sender(mailbox: Mailbox) -> dict[str, str]:
    raw = mailbox.payload.get("name")
    name: Mapping[str, object] = raw if isinstance(raw, Mapping) else {}
    signature = mailbox.payload.get("signature")
    return sender_context(str(name.get("first_name") or ""), str(name.get("last_name") or ""), mailbox.email,
                          str(signature) if signature else None)


def fingerprint(campaign: Campaign) -> str:
    text = json.dumps([[[v.subject, v.body] for v in step.variations] for step in campaign.sequences])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def describe(campaign: Campaign, mailboxes: list[Mailbox] | None) -> CampaignInfo:
    """Compile the campaign's templates (a malformed one is kept as `fault`) and its mailboxes' sender fields
    (every mailbox of the workspace when the campaign names none, as PlusVibe sends then)."""
    steps = [[Variation(v.variation or chr(ord("A") + i), v.subject, v.body) for i, v in enumerate(step.variations)]
             for step in campaign.sequences]
    templates: CampaignTemplates | None = None
    fault: TemplateFault | None = None
    try:
        templates = CampaignTemplates.compile(steps)
    except TemplateFault as exc:
        fault = exc
    accounts = tuple(e for e in (_account_email(a) for a in campaign.email_accounts) if e)
    senders: tuple[Mapping[str, str], ...] = ()
    if mailboxes is not None:
        chosen = [m for m in mailboxes if not accounts or m.email in accounts]
        senders = tuple(_sender(m) for m in chosen)
    return CampaignInfo(id=campaign.id, name=campaign.camp_name, status=campaign.status,
                        steps=max(len(campaign.sequences), 1), templates=templates, fault=fault,
                        email_accounts=accounts, fingerprint=fingerprint(campaign), senders=senders,
                        campaign_type=campaign.campaign_type)


class CampaignDirectory:
    def __init__(self, plusvibe: PlusVibePort, *, ttl_s: float = 60.0) -> None:
        self.plusvibe = plusvibe
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, CampaignInfo]] = {}
        self._mailboxes: tuple[float, list[Mailbox]] | None = None

    async def mailboxes(self) -> list[Mailbox] | None:
        """The workspace's mailboxes (cached), None when they cannot be read (the guard then assumes PlusVibe
        fills the sender fields)."""
        if self._mailboxes and time.monotonic() - self._mailboxes[0] < MAILBOX_TTL_S:
            return self._mailboxes[1]
        try:
            boxes = await self.plusvibe.list_mailboxes()
        except PlusVibeError:  # sender fields are a refinement: the push must not fail on them
            return None
        self._mailboxes = (time.monotonic(), boxes)
        return boxes

    async def get(self, campaign_id: str, *, fresh: bool = False) -> CampaignInfo:
        hit = self._cache.get(campaign_id)
        if hit and not fresh and time.monotonic() - hit[0] < self.ttl_s:
            return hit[1]
        campaign = await self.plusvibe.get_campaign(campaign_id)
        info = describe(campaign, await self.mailboxes())
        self._cache[campaign_id] = (time.monotonic(), info)
        return info

    async def list(self) -> list[CampaignInfo]:
        """Every campaign of the workspace, described (one call; the periodic template check uses this too)."""
        campaigns = await self.plusvibe.list_campaigns()
        mailboxes = await self.mailboxes()
        infos = [describe(c, mailboxes) for c in campaigns]
        now = time.monotonic()
        for info in infos:
            self._cache[info.id] = (now, info)
        return infos
