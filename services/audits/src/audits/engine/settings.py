"""Settings of the audit engine (plain pydantic; the service maps its environment onto them)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from audits.engine.hosts import HostError, parse_host


class AllowEntry(BaseModel):
    """One allowlist rule: a network and exactly one port, optionally narrowed to one host name.

    Text form: `[name@]address-or-cidr:port`, IPv6 in brackets, e.g. `127.0.0.1:8443`,
    `127.0.0.0/8:8080`, `good.test@127.0.0.1:8443`, `[::1]:8443`. A site on two ports takes two
    entries (`good.test@127.0.0.1:8443,good.test@127.0.0.1:8080`).

    The port is required. An entry without one used to match every port, so an allowlisted site
    could redirect the audit to any other service on the same address (`http://<name>:<port>/`).
    Defaulting to 80/443 instead would still silently open whatever listens there on a
    loopback/private address, so a port-less entry is refused at startup: the operator states
    every port the engine may dial.
    """

    model_config = ConfigDict(frozen=True)

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int = Field(ge=1, le=65535)
    host: str | None = None

    @classmethod
    def parse(cls, text: str) -> AllowEntry:
        """Parse the text form; raise ValueError (naming the entry) when it is malformed or has no port."""
        raw = text.strip()
        try:
            return cls._parse(raw)
        except (ValueError, HostError) as exc:
            raise ValueError(
                f"allowlist entry '{raw[:80]}' is invalid ({exc}); "
                "expected [name@]address-or-cidr:port, e.g. good.test@127.0.0.1:8443 or [::1]:8443"
            ) from None

    @classmethod
    def _parse(cls, rest: str) -> AllowEntry:
        host: str | None = None
        if "@" in rest:
            name, rest = rest.split("@", 1)
            host = parse_host(name).name
        port_text: str | None = None
        if rest.startswith("["):
            addr, _, tail = rest[1:].partition("]")
            if tail:
                if not tail.startswith(":"):
                    raise ValueError("unexpected text after ']'")
                port_text = tail[1:]
        elif rest.count(":") == 1:
            addr, port_text = rest.split(":")
        else:
            addr = rest  # no port, or an IPv6 address without brackets
        if port_text is None:
            raise ValueError("no port; every entry names the one port it allows")
        if not (port_text.isascii() and port_text.isdigit()):
            raise ValueError(f"'{port_text[:10]}' is not a port")
        return cls(network=ipaddress.ip_network(addr, strict=False), port=int(port_text), host=host)

    def matches(self, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
        """True when this rule permits dialling `address:port` for the URL host `host`."""
        if address.version != self.network.version or address not in self.network:
            return False
        if self.port != port:
            return False
        return self.host is None or self.host == host


def parse_allowlist(value: object) -> object:
    """Comma-separated text or a list of texts/entries -> a tuple of AllowEntry; other values unchanged."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return tuple(AllowEntry.parse(v) if isinstance(v, str) else v for v in value)
    return value


class Ports(BaseModel):
    """Where a domain's https and http sites listen (only loopback test sites use other ports).

    `https=None` declares a site without https: the audit goes straight to http. (With port-exact
    allowlist entries, probing 443 for such a site would be refused as BLOCKED_ADDRESS, not "no https".)
    """

    model_config = ConfigDict(frozen=True)

    https: int | None = 443
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
        return parse_allowlist(value)

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
