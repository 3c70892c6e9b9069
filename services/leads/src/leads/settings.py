"""Settings of the leads service (env prefix `LEADS_`)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import field_validator
from pydantic_settings import SettingsConfigDict

from servicekit.process.settings import ServiceSettings


class LeadsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADS_", extra="ignore")

    service_name: str = "leads"
    page_size: int = 25
    # Labels (without LEAD_MARKED_AS_) that move a lead to `converted`.
    converting_labels: list[str] = ["MEETING_BOOKED", "CLOSED"]
    # A push reads the campaign fresh; the send preview and the template check reuse a copy this old.
    campaign_cache_ttl_s: float = 10.0
    # How the PlusVibe workspace stores custom variables (docs/TEMPLATES.md §4): auto | verbatim | prefixed.
    plusvibe_custom_storage: Literal["auto", "verbatim", "prefixed"] = "auto"
    # How often enrolled leads are re-checked against their campaign's current templates (0 = never).
    template_check_interval_s: float = 30.0
    # How long a process keeps the connected PlusVibe credentials before reading them again: an operator's connect,
    # key change or disconnect reaches every leads process within this.
    integration_ttl_s: float = 5.0
    # The deployment's public base URL as PlusVibe reaches it (e.g. https://outreach.example.com): connecting an
    # integration registers the workspace's webhook at <this>/api/plusvibe/webhooks/<workspace>. Empty → no webhook
    # is registered (hooks are then added by hand in PlusVibe, against unibox's environment-secret route).
    webhook_base_url: str = ""
    # CSV import (docs/CSV.md): the largest file accepted, and the most leads in one file.
    import_max_bytes: int = 20 * 1024 * 1024
    import_max_rows: int = 50_000

    @field_validator("webhook_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment):
            raise ValueError("LEADS_WEBHOOK_BASE_URL must be an http(s) base URL without query or fragment")
        return value.rstrip("/")
