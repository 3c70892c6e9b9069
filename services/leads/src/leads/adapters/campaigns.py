"""What leads needs to know of a PlusVibe campaign (status, step count, the placeholders its templates use),
cached briefly so a bulk push reads the campaign once."""

from __future__ import annotations

import time
from dataclasses import dataclass

from leads.domain.placeholders import placeholders_in
from plusvibe.port import PlusVibePort


@dataclass(frozen=True)
class CampaignInfo:
    id: str
    name: str
    status: str
    steps: int
    placeholders: frozenset[str] | None  # None when the campaign has no readable templates

    @property
    def paused(self) -> bool:
        return self.status.upper() == "PAUSED"


class CampaignDirectory:
    def __init__(self, plusvibe: PlusVibePort, *, ttl_s: float = 60.0) -> None:
        self.plusvibe = plusvibe
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, CampaignInfo]] = {}

    async def get(self, campaign_id: str, *, fresh: bool = False) -> CampaignInfo:
        hit = self._cache.get(campaign_id)
        if hit and not fresh and time.monotonic() - hit[0] < self.ttl_s:
            return hit[1]
        campaign = await self.plusvibe.get_campaign(campaign_id)
        templates: list[str | None] = []
        for step in campaign.sequences:
            for variation in step.variations:
                templates.extend([variation.subject, variation.body])
        info = CampaignInfo(
            id=campaign.id,
            name=campaign.camp_name,
            status=campaign.status,
            steps=max(len(campaign.sequences), 1),
            placeholders=placeholders_in(templates) if any(templates) else None,
        )
        self._cache[campaign_id] = (time.monotonic(), info)
        return info

    async def list(self) -> list[CampaignInfo]:
        campaigns = await self.plusvibe.list_campaigns()
        return [CampaignInfo(id=c.id, name=c.camp_name, status=c.status, steps=max(len(c.sequences), 1),
                             placeholders=None) for c in campaigns]
