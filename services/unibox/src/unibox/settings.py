"""Configuration of the unibox service (environment prefix ``UNIBOX_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from servicekit.process.settings import ServiceSettings


class UniboxSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="UNIBOX_", extra="ignore")

    service_name: str = "unibox"
    # Shared secret PlusVibe sends with every webhook delivery (set on the hook with `secret`).
    # Unset → every webhook is refused (fail closed).
    webhook_secret: SecretStr | None = None
    # The platform does not document its signature header; the simulator sends the secret verbatim here.
    webhook_secret_header: str = "x-plusvibe-secret"
    webhook_max_body_bytes: int = 1_000_000
    # A webhook whose email has no lead in the projection yet waits this long for a LeadUpserted
    # before it is emitted with lead_id = null.
    webhook_match_grace_s: float = 300.0
    webhook_sweep_interval_s: float = 5.0
    # Threads listing: short cache per contact address; `refresh=true` bypasses it.
    threads_cache_ttl_s: float = 30.0
    threads_max_pages: int = 20
    # Opens poller (PlusVibe has no open webhook).
    opens_poll_interval_s: float = 300.0
    opens_batch_size: int = 50
    opens_campaign_statuses: tuple[str, ...] = ("ACTIVE",)
    opens_lead_statuses: tuple[str, ...] = ("email_generated", "email_sent", "retargeted")
    # How long a process keeps the connected PlusVibe credentials before reading them again: an operator's connect,
    # key change or disconnect reaches every unibox process within this.
    integration_ttl_s: float = Field(default=5.0, gt=0)
