"""Resolvers the service can be configured with: dnspython for production, a static map for local demos."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from audits.engine import DnsPythonResolver, ResolutionError, Resolver
from audits.engine.hosts import HostError, parse_host
from audits.settings import AuditsSettings


class StaticResolver:
    """Answers from fixed maps (name -> addresses, name -> TXT strings); every other name fails to resolve.
    Never sends a DNS query."""

    def __init__(self, hosts: Mapping[str, str | Sequence[str]], txt: Mapping[str, Sequence[str]] | None = None) -> None:
        self._hosts = {_norm(k): [v] if isinstance(v, str) else list(v) for k, v in hosts.items()}
        self._txt = {_norm(k): list(v) for k, v in (txt or {}).items()}

    async def resolve(self, name: str) -> list[str]:
        addresses = self._hosts.get(_norm(name))
        if not addresses:
            raise ResolutionError(f"{name} does not resolve (not in the static host map)")
        return list(addresses)

    async def txt(self, name: str) -> list[str]:
        return list(self._txt.get(_norm(name), []))


def _norm(name: str) -> str:
    try:
        return parse_host(name).name
    except HostError:
        return name.strip().lower().rstrip(".")


def resolver_from_settings(settings: AuditsSettings) -> Resolver:
    if settings.resolver == "static":
        return StaticResolver(settings.static_hosts, settings.static_txt)
    return DnsPythonResolver(
        timeout_s=settings.dns_timeout_s, nameservers=settings.nameservers, port=settings.nameserver_port
    )
