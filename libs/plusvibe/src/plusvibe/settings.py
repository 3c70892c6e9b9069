"""Configuration for the PlusVibe client (environment prefix ``PLUSVIBE_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BASE_URL = "https://api.plusvibe.ai/api/v1"


class PlusVibeSettings(BaseSettings):
    """Account, limits and resilience knobs. Services point ``base_url`` at the simulator."""

    model_config = SettingsConfigDict(env_prefix="PLUSVIBE_", extra="ignore")

    base_url: str = DEFAULT_BASE_URL
    api_key: SecretStr = SecretStr("")
    workspace_id: str = ""
    # The account limit (requests/second) and the fraction of it this process may use:
    # with N replicas give each replica_share = 1/N so all together stay under the account limit.
    requests_per_second: float = Field(default=5.0, gt=0)
    replica_share: float = Field(default=1.0, gt=0, le=1.0)
    # Spacing margin so request arrival jitter never puts 6 requests in one second at the server.
    rate_safety_factor: float = Field(default=0.97, gt=0, le=1.0)
    # Retry-After above this cap is not slept on: the caller gets RateLimitedError at once.
    max_retry_after_s: float = Field(default=30.0, ge=0)
    total_deadline_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=15.0, gt=0)
    # Total attempts per logical call (first try included).
    attempts: int = Field(default=3, ge=1)
    backoff_initial_s: float = Field(default=0.2, ge=0)
    backoff_max_s: float = Field(default=5.0, ge=0)
    backoff_jitter_s: float = Field(default=0.2, ge=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_s: float = Field(default=10.0, gt=0)
    user_agent: str = "outreach-plusvibe/0.1 (+httpx)"
    lead_batch_size: int = Field(default=100, ge=1, le=100)

    @property
    def effective_rate(self) -> float:
        """Requests per second this process may send to the account."""
        return self.requests_per_second * self.replica_share * self.rate_safety_factor
