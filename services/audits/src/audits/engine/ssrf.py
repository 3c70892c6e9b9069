"""The SSRF guard: every URL the engine fetches is parsed like a browser would, its host resolved
once per audit through the injected resolver, every address checked, and the checked address pinned
so the transport can dial nothing else (no second lookup, no rebinding)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

import httpx

from audits.engine.addresses import IPAddress, classify
from audits.engine.errors import AuditFailure, FailureKind
from audits.engine.hosts import Host, HostError, parse_host
from audits.engine.resolver import ResolutionError, Resolver
from audits.engine.settings import AllowEntry

ALLOWED_SCHEMES: Final = ("http", "https")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_URL: Final = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.\-]*):(.*)$", re.DOTALL)
# RFC 6761: these names never go to DNS; they mean this machine.
_LOCAL_NAMES: Final = ("localhost",)
_LOCAL_ADDRESSES: Final[tuple[IPAddress, ...]] = (
    ipaddress.IPv4Address("127.0.0.1"),
    ipaddress.IPv6Address("::1"),
)


@dataclass(frozen=True, slots=True)
class ParsedUrl:
    """A URL checked for scheme and credentials, with its host parsed the browser way."""

    url: httpx.URL
    host: Host
    port: int

    @property
    def pin_key(self) -> tuple[str, int]:
        """The (host, port) the connection pool will ask the network backend to dial."""
        return (self.url.raw_host.decode("ascii").lower(), self.port)


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed the guard, and the single address its connection may use."""

    parsed: ParsedUrl
    address: IPAddress


def _blocked_url(message: str) -> AuditFailure:
    return AuditFailure(FailureKind.BLOCKED_URL, message)


def parse_url(text: str) -> ParsedUrl:
    """Check scheme and credentials and canonicalise the host; raise AuditFailure(BLOCKED_URL)."""
    match = _URL.match(text)
    if match is None:
        raise _blocked_url(f"'{text[:80]}' is not an absolute web address")
    scheme = match.group(1).lower()
    if scheme not in ALLOWED_SCHEMES:
        raise _blocked_url(f"only http and https addresses are audited, not '{scheme}:'")
    rest = match.group(2)
    # Browsers read backslashes as slashes in http(s) URLs; do the same so we see what they see.
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    rest = rest[:cut].replace("\\", "/") + rest[cut:]
    rest = rest.lstrip("/")
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        raise _blocked_url("web addresses with a user name or password are not audited")
    host_text, port_text = authority, ""
    if authority.startswith("["):
        close = authority.find("]")
        host_text, port_text = authority[: close + 1], authority[close + 1 :].removeprefix(":")
    elif ":" in authority:
        host_text, port_text = authority.rsplit(":", 1)
    try:
        host = parse_host(host_text)
    except HostError as exc:
        raise _blocked_url(f"'{host_text[:80]}' is not a valid host name") from exc
    if port_text and not (port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536):
        raise _blocked_url(f"'{port_text[:10]}' is not a valid port")
    port = int(port_text) if port_text else _DEFAULT_PORTS[scheme]
    port_part = "" if port == _DEFAULT_PORTS[scheme] else f":{port}"
    try:
        url = httpx.URL(f"{scheme}://{host.url_host}{port_part}{tail or '/'}")
    except httpx.InvalidURL as exc:
        raise _blocked_url(f"'{text[:80]}' is not a valid web address") from exc
    expected = host.ip.compressed if host.ip is not None else host.name
    if url.raw_host.decode("ascii").lower() != expected:
        raise _blocked_url(f"'{text[:80]}' is ambiguous")  # parser differential; never guess
    return ParsedUrl(url=url, host=host, port=port)


class SsrfGuard:
    """Resolves and checks hosts for one audit and remembers the one address each may use."""

    def __init__(self, *, resolver: Resolver, allowlist: tuple[AllowEntry, ...] = ()) -> None:
        self._resolver = resolver
        self._allowlist = allowlist
        self._answers: dict[str, list[IPAddress]] = {}
        self._pins: dict[tuple[str, int], IPAddress] = {}

    def pinned(self, host: str, port: int) -> IPAddress | None:
        """The checked address for (host, port), or None when that pair was never admitted."""
        return self._pins.get((host.lower(), port))

    def is_allowed(self, host: Host, address: IPAddress, port: int) -> tuple[bool, str]:
        verdict = classify(address)
        if verdict.allowed:
            return True, verdict.reason
        if any(entry.matches(host.name, address, port) for entry in self._allowlist):
            return True, "allowlisted"
        return False, verdict.reason

    async def addresses(self, host: Host) -> list[IPAddress]:
        """All addresses of `host`, looked up at most once per audit."""
        if host.ip is not None:
            return [host.ip]
        cached = self._answers.get(host.name)
        if cached is not None:
            return cached
        if host.name in _LOCAL_NAMES or host.name.endswith(".localhost"):
            found: list[IPAddress] = list(_LOCAL_ADDRESSES)
        else:
            try:
                answer = await self._resolver.resolve(host.name)
            except ResolutionError as exc:
                raise AuditFailure(
                    FailureKind.DNS_FAILURE, f"the domain {host.name} could not be found in DNS ({exc})"
                ) from exc
            try:
                found = [ipaddress.ip_address(a) for a in answer]
            except ValueError as exc:
                raise AuditFailure(FailureKind.DNS_FAILURE, f"DNS gave a malformed address for {host.name}") from exc
            if not found:
                raise AuditFailure(FailureKind.DNS_FAILURE, f"the domain {host.name} has no address in DNS")
        self._answers[host.name] = found
        return found

    async def admit(self, url: str | httpx.URL) -> Target:
        """Parse, resolve and check `url`; pin its address. Raises AuditFailure when refused."""
        parsed = parse_url(str(url))
        addresses = await self.addresses(parsed.host)
        # Every answer must be acceptable: a mixed answer is how rebinding attacks start.
        for address in addresses:
            ok, reason = self.is_allowed(parsed.host, address, parsed.port)
            if not ok:
                raise AuditFailure(
                    FailureKind.BLOCKED_ADDRESS,
                    f"{parsed.host.name} points to {address} ({reason.replace('_', ' ')} address); "
                    "only public websites are audited",
                )
        key = parsed.pin_key
        address = self._pins.setdefault(key, addresses[0])
        return Target(parsed=parsed, address=address)
