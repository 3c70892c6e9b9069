"""Host parsing the way browsers do it (WHATWG URL host parser), so odd spellings of an address
(`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`, full-width digits, trailing dots) are recognised
as the address they mean instead of being treated as names."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

import idna

from audits.engine.addresses import IPAddress

_FORBIDDEN_HOST_CHARS: Final = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
_LABEL: Final = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class HostError(ValueError):
    """The text is not a host a browser would accept."""


@dataclass(frozen=True, slots=True)
class Host:
    """A parsed host: either an IP literal (`ip` set) or an ASCII (punycode) DNS name."""

    name: str
    ip: IPAddress | None = None

    @property
    def url_host(self) -> str:
        """The host as written in a URL (IPv6 in brackets)."""
        if isinstance(self.ip, ipaddress.IPv6Address):
            return f"[{self.ip.compressed}]"
        return self.name


def _parse_ipv4_number(part: str) -> int:
    """One dotted part, as inet_aton reads it: 0x.. hex, 0.. octal, otherwise decimal."""
    if part == "":
        raise HostError("empty IPv4 part")
    base = 10
    if part[:2] in ("0x", "0X"):
        part, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, base = part[1:], 8
    if part == "":
        return 0
    try:
        return int(part, base) if part.isascii() and part.isalnum() else _bad(part)
    except ValueError as exc:
        raise HostError(f"bad IPv4 part {part!r}") from exc


def _bad(part: str) -> int:
    raise HostError(f"bad IPv4 part {part!r}")


def _ends_in_number(host: str) -> bool:
    last = host.split(".")[-1]
    if last and all(c in "0123456789" for c in last):
        return True
    try:
        _parse_ipv4_number(last)
    except HostError:
        return False
    return True


def _parse_ipv4(host: str) -> ipaddress.IPv4Address:
    parts = host.split(".")
    if len(parts) > 4:
        raise HostError("too many IPv4 parts")
    numbers = [_parse_ipv4_number(p) for p in parts]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise HostError("IPv4 part out of range")
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_host(text: str) -> Host:
    """Parse a URL host (or bare domain) into an IP literal or a lowercase punycode name."""
    raw = text.strip()
    if raw.startswith("[") and raw.endswith("]"):
        inner = raw[1:-1]
        if "%" in inner:
            raise HostError("IPv6 zone identifiers are not allowed")
        try:
            v6 = ipaddress.IPv6Address(inner)
        except ValueError as exc:
            raise HostError(f"bad IPv6 literal {raw!r}") from exc
        return Host(name=v6.compressed, ip=v6)
    if ":" in raw:
        try:
            v6 = ipaddress.IPv6Address(raw)
        except ValueError as exc:
            raise HostError(f"bad host {raw!r}") from exc
        return Host(name=v6.compressed, ip=v6)
    try:
        # UTS #46 mapping folds full-width digits, circled letters and case, as browsers do.
        mapped = idna.uts46_remap(raw, std3_rules=False, transitional=False)
    except idna.IDNAError as exc:
        raise HostError(f"bad host {raw!r}") from exc
    mapped = mapped.replace("\u3002", ".").replace("\uff0e", ".").replace("\uff61", ".")
    mapped = mapped.removesuffix(".")
    if not mapped or _FORBIDDEN_HOST_CHARS.search(mapped):
        raise HostError(f"bad host {raw!r}")
    if _ends_in_number(mapped):
        v4 = _parse_ipv4(mapped)
        return Host(name=str(v4), ip=v4)
    try:
        ascii_name = idna.encode(mapped, uts46=False).decode("ascii").lower()
    except idna.IDNAError as exc:
        # Underscores and other LDH-relaxed labels are common in real DNS; fall back to plain ASCII.
        if not mapped.isascii():
            raise HostError(f"bad internationalised host {raw!r}") from exc
        ascii_name = mapped.lower()
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise HostError(f"bad host {raw!r}")
    return Host(name=ascii_name)
