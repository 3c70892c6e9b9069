"""Configuration for the PlusVibe client (environment prefix ``PLUSVIBE_``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from plusvibe.slots import is_postgres_url

DEFAULT_BASE_URL = "https://api.plusvibe.ai/api/v1"


class PlusVibeSettings(BaseSettings):
    """Account, limits and resilience knobs. Services point ``base_url`` at the simulator."""

    model_config = SettingsConfigDict(env_prefix="PLUSVIBE_", extra="ignore")

    base_url: str = DEFAULT_BASE_URL
    api_key: SecretStr = SecretStr("")
    workspace_id: str = ""
    # The key-encryption key(s) that seal stored API keys (plusvibe.credentials): comma-separated, the first seals,
    # every one opens. Every service that stores or uses a connected integration needs it.
    kek: SecretStr = SecretStr("")
    # The account limit (requests/second), shared by every process and replica that calls the account
    # (plusvibe.slots): "auto" shares it through PostgreSQL when `limit_database_url` or DATABASE_URL names
    # one, else through a file in OUTREACH_DATA_DIR (the processes of one machine); "process" keeps it to this
    # process alone (tests and scripts only: two such processes together exceed the limit).
    requests_per_second: float = Field(default=5.0, gt=0)
    limit_store: Literal["auto", "postgres", "file", "process"] = "auto"
    limit_database_url: SecretStr | None = Field(
        default_factory=lambda: SecretStr(os.environ["DATABASE_URL"]) if os.environ.get("DATABASE_URL") else None)
    limit_file: Path | None = None
    # Spacing margin: slots are 1/(rate × factor) apart, so a request may arrive up to (1/factor − 1) s after its
    # slot (0.075 s at 0.93) before a one-second window at the server could hold rate + 1 requests; the client
    # spends 60 % of that at most (plusvibe.limits), the rest is for the way to the server's clock.
    rate_safety_factor: float = Field(default=0.93, gt=0, le=1.0)
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
        """Requests per second all processes together send to the account at most."""
        return self.requests_per_second * self.rate_safety_factor

    def resolved_limit_store(self) -> str:
        if self.limit_store != "auto":
            return self.limit_store
        url = self.limit_database_url.get_secret_value() if self.limit_database_url else None
        return "postgres" if is_postgres_url(url) else "file"
