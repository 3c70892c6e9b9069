"""Settings of the audit engine (plain pydantic; the service maps its environment onto them)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from audits.engine.hosts import HostError, parse_host


class AllowEntry(BaseModel):
    """One allowlist rule: a network, optionally narrowed to one port and/or one host name.

    Text form: `[name@]address-or-cidr[:port]`, IPv6 with a port in brackets, e.g. `127.0.0.1`,
    `127.0.0.0/8`, `127.0.0.1:8443`, `good.test@127.0.0.1:8443`, `[::1]:8443`.
    """

    model_config = ConfigDict(frozen=True)

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int | None = None
    host: str | None = None

    @classmethod
    def parse(cls, text: str) -> AllowEntry:
        host: str | None = None
        rest = text.strip()
        if "@" in rest:
            name, rest = rest.split("@", 1)
            host = parse_host(name).name
        port: int | None = None
        if rest.startswith("["):
            addr, _, tail = rest[1:].partition("]")
            if tail.startswith(":"):
                port = int(tail[1:])
        elif rest.count(":") == 1:
            addr, port_text = rest.split(":")
            port = int(port_text)
        else:
            addr = rest
        return cls(network=ipaddress.ip_network(addr, strict=False), port=port, host=host)

    def matches(self, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
        """True when this rule permits dialling `address:port` for the URL host `host`."""
        if address.version != self.network.version or address not in self.network:
            return False
        if self.port is not None and self.port != port:
            return False
        return self.host is None or self.host == host


class Ports(BaseModel):
    """Where a domain's https and http sites listen (only loopback test sites use other ports)."""

    model_config = ConfigDict(frozen=True)

    https: int = 443
    http: int = 80


class AuditEngineSettings(BaseModel):
    """Caps, timeouts and the SSRF allowlist of the audit engine. Defaults are production values."""

    model_config = ConfigDict(frozen=True)

    allowlist: tuple[AllowEntry, ...] = ()
    ports: dict[str, Ports] = Field(default_factory=dict)
    ca_file: Path | None = None
    max_body_bytes: int = 5_000_000
    max_decoded_bytes: int = 10_000_000
    max_aux_bytes: int = 512_000
    request_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    total_budget_s: float = 30.0
    max_redirects: int = 10
    user_agent: str = "OutreachAuditBot/1.0 (+website health check)"

    @field_validator("allowlist", mode="before")
    @classmethod
    def _parse_allowlist(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return tuple(AllowEntry.parse(v) if isinstance(v, str) else v for v in value)
        return value

    @field_validator("ports", mode="before")
    @classmethod
    def _normalise_port_keys(cls, value: object) -> object:
        if isinstance(value, dict):
            try:
                return {parse_host(str(k)).name: v for k, v in value.items()}
            except HostError as exc:
                raise ValueError(str(exc)) from exc
        return value

    def ports_for(self, host: str) -> Ports:
        return self.ports.get(host, Ports())
