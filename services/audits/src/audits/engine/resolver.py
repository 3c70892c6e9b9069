"""DNS behind a small Protocol: the engine never resolves a name any other way, so tests inject a
fake and production uses dnspython."""

from __future__ import annotations

from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver


class ResolutionError(Exception):
    """The name does not resolve (NXDOMAIN, no answer, server failure or timeout)."""


class Resolver(Protocol):
    """Address and TXT lookups used by one audit."""

    async def resolve(self, name: str) -> list[str]:
        """All A and AAAA addresses of `name`, as text; raise ResolutionError when there are none."""
        ...

    async def txt(self, name: str) -> list[str]:
        """The TXT strings at `name` (each record's chunks joined); [] when there are none."""
        ...


class DnsPythonResolver:
    """The production resolver (dnspython's async stub resolver, system configuration)."""

    def __init__(self, *, timeout_s: float = 5.0, nameservers: list[str] | None = None, port: int = 53) -> None:
        # Explicit nameservers skip /etc/resolv.conf (tests point this at a loopback DNS server).
        self._resolver = dns.asyncresolver.Resolver(configure=nameservers is None)
        if nameservers is not None:
            self._resolver.nameservers = nameservers
            self._resolver.port = port
        self._resolver.lifetime = timeout_s

    async def resolve(self, name: str) -> list[str]:
        addresses: list[str] = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            try:
                answer = await self._resolver.resolve(name, rdtype)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
                continue
            except dns.exception.DNSException as exc:
                raise ResolutionError(f"DNS lookup of {name} failed: {exc.__class__.__name__}") from exc
            addresses.extend(rdata.to_text() for rdata in answer)
        if not addresses:
            raise ResolutionError(f"{name} has no address records")
        return addresses

    async def txt(self, name: str) -> list[str]:
        try:
            answer = await self._resolver.resolve(name, dns.rdatatype.TXT)
        except dns.exception.DNSException:
            return []
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]
