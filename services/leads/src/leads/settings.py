"""Settings of the leads service (env prefix `LEADS_`)."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import SettingsConfigDict

from servicekit.process.settings import ServiceSettings


class LeadsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADS_", extra="ignore")

    service_name: str = "leads"
    page_size: int = 25
    # Labels (without LEAD_MARKED_AS_) that move a lead to `converted`.
    converting_labels: list[str] = ["MEETING_BOOKED", "CLOSED"]
    default_tone: str = "consultative"
    # A push reads the campaign fresh; the send preview and the template check reuse a copy this old.
    campaign_cache_ttl_s: float = 10.0
    # How the PlusVibe workspace stores custom variables (docs/TEMPLATES.md §4): auto | verbatim | prefixed.
    plusvibe_custom_storage: Literal["auto", "verbatim", "prefixed"] = "auto"
    # How often enrolled leads are re-checked against their campaign's current templates (0 = never).
    template_check_interval_s: float = 30.0
    # How long a process keeps the connected PlusVibe credentials before reading them again: an operator's connect,
    # key change or disconnect reaches every leads process within this.
    integration_ttl_s: float = 5.0
