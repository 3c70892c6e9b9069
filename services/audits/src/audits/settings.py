"""Settings of the audits service (env prefix `AUDITS_`): the engine's caps and SSRF allowlist, the worker's
concurrency, the public base URL of report pages and the DNS resolver.

Local/demo configuration (loopback sites only, no public DNS):
    AUDITS_RESOLVER=static
    AUDITS_STATIC_HOSTS='{"good.test": "127.0.0.1"}'
    AUDITS_STATIC_TXT='{"good.test": ["v=spf1 -all"], "_dmarc.good.test": ["v=DMARC1; p=reject"]}'
    AUDITS_ALLOWLIST='good.test@127.0.0.1:8443,good.test@127.0.0.1:8080'   # off (empty) by default
    AUDITS_SITE_PORTS='{"good.test": {"https": 8443, "http": 8080}}'
    AUDITS_CA_FILE=.local/demo-ca.pem
Production: AUDITS_RESOLVER=dns (dnspython, system configuration) or explicit AUDITS_NAMESERVERS.

AUDITS_ALLOWLIST syntax: comma-separated entries `[name@]address-or-cidr:port` (IPv6 as `[::1]:8443`),
one entry per port: `good.test@127.0.0.1:8443` lets the URL host good.test dial 127.0.0.1 on port 8443
and nowhere else. The port is mandatory: an entry without one is refused when the settings load (it
used to match every port, so an allowlisted site could redirect the audit to any local service).
Every redirect hop is checked again against name, address and port.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from audits.engine import AuditEngineSettings, Ports
from audits.engine.settings import parse_allowlist
from servicekit.process.settings import ServiceSettings


class AuditsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUDITS_", extra="ignore")

    service_name: str = "audits"
    # Report URL = <public_base_url>/r/<slug>; the default is the local entry point.
    public_base_url: str = "http://127.0.0.1:8000"

    # --- engine (see audits/engine/README.md) ---
    # `[name@]ip-or-cidr:port`, comma separated, one entry per port (see the module docstring);
    # empty = only global addresses may be audited.
    allowlist: str = ""
    site_ports: dict[str, Ports] = Field(default_factory=dict)
    ca_file: Path | None = None
    max_body_bytes: int = 5_000_000
    max_decoded_bytes: int = 10_000_000
    request_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    total_budget_s: float = 30.0
    max_redirects: int = 10

    # --- resolver ---
    # `dns`: dnspython (system config, or `nameservers`); `static`: the maps below, nothing else resolves.
    resolver: Literal["dns", "static"] = "dns"
    nameservers: list[str] | None = None
    nameserver_port: int = 53
    dns_timeout_s: float = 5.0
    static_hosts: dict[str, str | list[str]] = Field(default_factory=dict)
    static_txt: dict[str, list[str]] = Field(default_factory=dict)

    # --- worker ---
    max_concurrent_audits: int = 20
    max_audits_per_domain: int = 1
    worker_poll_interval_s: float = 0.5
    # A `running` run whose lease ran out (its worker died) is taken over; after this many attempts it fails.
    lease_grace_s: float = 30.0
    max_attempts: int = 3
    consumer_max_records: int = 50

    @field_validator("allowlist")
    @classmethod
    def _allowlist_entries_name_their_ports(cls, value: str) -> str:
        parse_allowlist(value)  # fail at startup, naming the bad entry, rather than at the first audit
        return value

    @field_validator("site_ports", "static_hosts", "static_txt", mode="before")
    @classmethod
    def _json_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    def engine_settings(self) -> AuditEngineSettings:
        return AuditEngineSettings(
            allowlist=self.allowlist,  # a comma-separated string, parsed by the engine's validator
            ports=self.site_ports,
            ca_file=self.ca_file,
            max_body_bytes=self.max_body_bytes,
            max_decoded_bytes=self.max_decoded_bytes,
            request_timeout_s=self.request_timeout_s,
            connect_timeout_s=self.connect_timeout_s,
            total_budget_s=self.total_budget_s,
            max_redirects=self.max_redirects,
        )

    def report_url(self, slug: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/r/{slug}"

    @property
    def lease_s(self) -> float:
        """How long a claimed run may stay `running` before another worker may take it over."""
        return self.total_budget_s + self.lease_grace_s
