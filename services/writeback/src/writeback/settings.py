"""Writeback settings (env prefix `WRITEBACK_`); PlusVibe itself by the integration connected under Integrations
(its key opened with `PLUSVIBE_KEK`), or while none is stored by `PLUSVIBE_*`. The tone and step count of the copy
are no setting of this service: leads owns them per workspace and campaign (CopySettingsChanged)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.process.settings import ServiceSettings


class WritebackSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WRITEBACK_", extra="ignore")

    service_name: str = "writeback"
    # Campaign step counts read from PlusVibe are reused for this long.
    step_cache_ttl_s: float = Field(default=300.0, gt=0)
    # Delivery worker: parallel sends (the shared limiter still caps the rate), how long one delivery
    # keeps retrying transient PlusVibe faults before WritebackFailed, and its backoff.
    delivery_concurrency: int = Field(default=4, ge=1, le=32)
    delivery_retry_budget_s: float = Field(default=180.0, ge=0)
    delivery_backoff_base_s: float = Field(default=0.5, gt=0)
    delivery_backoff_cap_s: float = Field(default=5.0, gt=0)
    delivery_poll_interval_s: float = Field(default=0.25, gt=0)
    # A claimed delivery is invisible to other workers this long (must exceed PlusVibe's total deadline).
    delivery_lease_s: float = Field(default=60.0, gt=0)
    # How long a process keeps the connected PlusVibe credentials before reading them again: an operator's connect,
    # key change or disconnect reaches every writeback process within this.
    integration_ttl_s: float = Field(default=5.0, gt=0)
    # LeadUpserted (the lead snapshots) fetched in batches gathered for up to this long (0: at once, the default).
    # Under a trickle of snapshots writeback then applies them in one transaction per linger instead of one per
    # snapshot: at 50 leads/s, 5.6-7.0 instead of 9.1-10.1 ms of its CPU per lead (docs/PERFORMANCE.md). The price:
    # the projection of a lead's contact lags its snapshot by up to this much, so an audit that completes sooner
    # after a contact change (or a lead's creation) builds its copy with the contact from before.
    snapshot_linger_ms: int = Field(default=0, ge=0, le=1000)
