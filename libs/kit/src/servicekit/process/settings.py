"""Settings shared by every service (pydantic-settings). Each service subclasses `ServiceSettings` with its
own env prefix (e.g. `LEADS_`); the shared infrastructure addresses fall back to unprefixed variables
(`KAFKA_BOOTSTRAP_SERVERS`, `DATABASE_URL`) so one environment can configure every service."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.integrations import DEFAULT_WORKSPACE, WORKSPACE_NAME_PATTERN
from contracts.topics import TopicSpec
from servicekit.messaging.kafka_config import KafkaSecurity, security_from_env

# The longest the outbox keeps published rows (`outbox_keep_sent_s`): a month; more only grows the table.
KEEP_SENT_MAX_S = 30 * 86_400


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVICE_", extra="ignore")

    service_name: str = "service"
    # None → `DATABASE_URL` (PostgreSQL, one schema per service) → embedded SQLite under `data_dir`.
    database_url: SecretStr | None = None
    db_schema: str | None = None
    data_dir: Path = Field(default_factory=lambda: Path(_env("OUTREACH_DATA_DIR", ".local/data")))
    kafka_bootstrap_servers: str = Field(default_factory=lambda: _env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"))
    # Prepended to every topic name; lets tests and shared clusters isolate their topics.
    kafka_topic_prefix: str = Field(default_factory=lambda: _env("KAFKA_TOPIC_PREFIX", ""))
    # TLS / SASL / mTLS of every Kafka client of the process, from the unprefixed `KAFKA_SECURITY_PROTOCOL`,
    # `KAFKA_SASL_*`, `KAFKA_SSL_*` (servicekit.messaging.kafka_config.KafkaSecurity; a bad combination fails here).
    kafka_security: KafkaSecurity = Field(default_factory=security_from_env)
    # False where migrations run as their own step with a DDL role (python -m <service>.entrypoints.migrate, a
    # Kubernetes Job): the service then runs with a DML-only role and never migrates at start.
    migrate_on_start: bool = Field(default_factory=lambda: _env("MIGRATE_ON_START", "true").lower()
                                   not in ("0", "false", "no"))
    log_level: str = Field(default_factory=lambda: _env("LOG_LEVEL", "INFO"))
    log_json: bool = True
    # JSON list of {"name", "sha256", "scopes"} (servicekit.web.auth); keys are only ever held as hashes.
    api_keys_json: str = Field(default_factory=lambda: _env("API_KEYS", "[]"))
    # The platform workspaces this deployment serves (comma-separated names, docs/WORKSPACES.md); every service of a
    # deployment is given the same list. A request for any other workspace answers 404 `workspace_not_found`.
    workspaces: str = Field(default_factory=lambda: _env("WORKSPACES", DEFAULT_WORKSPACE))
    # How long a request waits for a free database connection before it is refused with 503 + Retry-After
    # (servicekit.web.http.pool_exhausted_response) instead of queueing behind an overload.
    db_pool_timeout_s: float = Field(default=3.0, gt=0)
    # Database connections per process, all kept open once made (no overflow connections: see db.create_engine).
    # None: the figure of the process type (servicekit.process.pooling.size_pool, called by the entrypoints; db.POOL_SIZE
    # where none is named); set as `<SVC>_DB_POOL_SIZE`, or `DB_POOL_SIZE` for every service of an environment.
    db_pool_size: int | None = Field(default_factory=lambda: os.environ.get("DB_POOL_SIZE") or None, ge=1, le=200,
                                     validate_default=True)
    # Inbound rate limit per principal (API key, else client IP; servicekit.web.rate_limit): sustained requests per
    # second (0 switches limiting off) and the burst a principal may send at once; beyond it: 429 + Retry-After.
    rate_limit_per_s: float = Field(default=100.0, ge=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    # How PostgreSQL compresses the large values this service writes (servicekit.process.db.
    # compress_toast_with_lz4_on_connect): lz4, or "server" for the server's own default (pglz unless changed); set as
    # `<SVC>_DB_TOAST_COMPRESSION`, or `DB_TOAST_COMPRESSION` for every service of an environment.
    db_toast_compression: Literal["lz4", "server"] = Field(
        default_factory=lambda: os.environ.get("DB_TOAST_COMPRESSION") or "lz4", validate_default=True)
    relay_batch_size: int = 500
    relay_poll_interval_s: float = 0.05
    # How long the outbox keeps a published row (servicekit.messaging.relay): 0 deletes it when its record is
    # acknowledged; more marks it sent and purges it once older. Set as `<SVC>_OUTBOX_KEEP_SENT_S`, or
    # `OUTBOX_KEEP_SENT_S` for every service of an environment.
    outbox_keep_sent_s: float = Field(default_factory=lambda: os.environ.get("OUTBOX_KEEP_SENT_S") or 0.0, ge=0,
                                      le=KEEP_SENT_MAX_S, allow_inf_nan=False, validate_default=True)
    consumer_max_records: int = 500
    # Allocations between two young garbage collections once a process has started (servicekit.process.runtime.
    # settle_heap); CPython's default is 700. Set as `<SVC>_GC_YOUNG_THRESHOLD`, or `GC_YOUNG_THRESHOLD` for every
    # service of an environment.
    gc_young_threshold: int = Field(default_factory=lambda: os.environ.get("GC_YOUNG_THRESHOLD") or 20_000, ge=1,
                                    le=1_000_000, validate_default=True)
    # The worker processes' event loop (servicekit.process.event_loop): uvloop, or asyncio's own.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # How long a batch fetch waits for records when none are buffered (servicekit.messaging.subscriber: after an
    # empty fetch that returned early, only what is left of it is waited, so an idle member does not spin).
    consumer_batch_timeout_ms: int = Field(default=100, ge=1, le=10_000)
    # How long a consumer keeps retrying a transient fault of one record before parking it in the DLQ.
    consumer_transient_budget_s: float = 600.0
    # Worker processes (consumers, relay) serve /health/live and /health/ready here (servicekit.process.worker_health);
    # None/0: no server, the default, so several workers started on one machine never clash on a port.
    worker_health_port: int | None = Field(default=None, ge=0, le=65535)
    worker_health_host: str = "127.0.0.1"

    @field_validator("workspaces")
    @classmethod
    def _workspace_names(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        bad = [n for n in names if not re.fullmatch(WORKSPACE_NAME_PATTERN, n)]
        if not names or bad:
            raise ValueError(f"WORKSPACES must name one or more workspaces (letters, digits, _ and -, at most 64 "
                             f"characters each), comma-separated; got {value!r}")
        return ",".join(dict.fromkeys(names))

    def served_workspaces(self) -> frozenset[str]:
        """The workspaces this deployment serves (`WORKSPACES`)."""
        return frozenset(self.workspaces.split(","))

    def resolved_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        shared = os.environ.get("DATABASE_URL")
        if shared:
            return shared
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{self.data_dir / (self.service_name + '.db')}"

    def resolved_schema(self) -> str:
        return self.db_schema or self.service_name

    def topic(self, spec: TopicSpec) -> str:
        return f"{self.kafka_topic_prefix}{spec.name}"

    def dlq_topic(self, spec: TopicSpec) -> str:
        return f"{self.kafka_topic_prefix}{spec.dlq}"
