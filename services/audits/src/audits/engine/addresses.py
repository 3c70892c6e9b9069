"""Classification of IP addresses for the SSRF guard: only globally routable unicast may be dialled.

Embedded IPv4 forms inside IPv6 (mapped, compatible, NAT64, 6to4, Teredo) are judged by the IPv4
address they carry, because that is where the packets would end up.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Cloud metadata endpoints are named separately so the refusal reason says what was at stake.
METADATA_ADDRESSES: Final[frozenset[IPAddress]] = frozenset(
    {
        ipaddress.IPv4Address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean
        ipaddress.IPv4Address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.IPv4Address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.IPv4Address("192.0.0.192"),  # Oracle Cloud (legacy)
        ipaddress.IPv6Address("fd00:ec2::254"),  # AWS IMDS over IPv6
    }
)

# IANA special-purpose registries (IPv4 and IPv6); order matters only for the reason reported.
_V4_BLOCKS: Final[tuple[tuple[_V4, str], ...]] = (
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("100.64.0.0/10"), "cgnat"),
    (_V4("169.254.0.0/16"), "link_local"),
    (_V4("192.0.0.0/24"), "reserved"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("192.31.196.0/24"), "reserved"),
    (_V4("192.52.193.0/24"), "reserved"),
    (_V4("192.88.99.0/24"), "reserved"),  # 6to4 relay anycast
    (_V4("192.175.48.0/24"), "reserved"),
    (_V4("198.18.0.0/15"), "reserved"),  # benchmarking
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),  # includes 255.255.255.255
)

_V6_BLOCKS: Final[tuple[tuple[_V6, str], ...]] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("64:ff9b:1::/48"), "private"),  # local-use NAT64
    (_V6("100::/64"), "reserved"),  # discard-only
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("2001::/23"), "reserved"),  # IETF protocol assignments, incl. Teredo 2001::/32
    (_V6("5f00::/16"), "reserved"),
    (_V6("fc00::/7"), "private"),  # unique local
    (_V6("fe80::/10"), "link_local"),
    (_V6("fec0::/10"), "private"),  # deprecated site-local
    (_V6("ff00::/8"), "multicast"),
)

_V4_COMPATIBLE: Final = _V6("::/96")
_NAT64: Final = _V6("64:ff9b::/96")
_SIX_TO_FOUR: Final = _V6("2002::/16")
_TEREDO: Final = _V6("2001::/32")


@dataclass(frozen=True, slots=True)
class AddressVerdict:
    """Whether an address may be dialled, and if not, the category that forbids it."""

    allowed: bool
    reason: str


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, compatible, NAT64, 6to4, Teredo client)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _TEREDO and address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _V4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _classify_v4(address: ipaddress.IPv4Address) -> str | None:
    for network, reason in _V4_BLOCKS:
        if address in network:
            return reason
    return None if address.is_global else "reserved"


def classify(address: IPAddress) -> AddressVerdict:
    """Allow only global unicast; metadata, loopback, private and every other special range is refused."""
    if address in METADATA_ADDRESSES:
        return AddressVerdict(False, "metadata")
    if isinstance(address, ipaddress.IPv4Address):
        reason = _classify_v4(address)
        return AddressVerdict(reason is None, reason or "global")
    if address.scope_id:
        return AddressVerdict(False, "link_local")
    inner = embedded_ipv4(address)
    if inner is not None:
        if address in _V4_COMPATIBLE or address.ipv4_mapped is not None:
            # No legitimate public site is reached through these forms; refuse them outright.
            reason = _classify_v4(inner) or "reserved"
            return AddressVerdict(False, f"embedded_ipv4_{reason}")
        inner_verdict = classify(inner)
        if not inner_verdict.allowed:
            return AddressVerdict(False, f"embedded_ipv4_{inner_verdict.reason}")
    for network, reason in _V6_BLOCKS:
        if address in network:
            return AddressVerdict(False, reason)
    if not address.is_global:
        return AddressVerdict(False, "reserved")
    return AddressVerdict(True, "global")
