"""Settings of the leads service (env prefix `LEADS_`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class LeadsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADS_", extra="ignore")

    service_name: str = "leads"
    page_size: int = 25
    # Labels (without LEAD_MARKED_AS_) that move a lead to `converted`.
    converting_labels: list[str] = ["MEETING_BOOKED", "CLOSED"]
    default_tone: str = "consultative"
    campaign_cache_ttl_s: float = 60.0
