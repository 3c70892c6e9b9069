"""The production resolver against a tiny DNS server on 127.0.0.1 (never public DNS)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from audits.engine import DnsPythonResolver, ResolutionError

ZONE = {
    ("shop.test.", "A"): ["127.0.0.1"],
    ("shop.test.", "AAAA"): ["::1"],
    ("shop.test.", "TXT"): ['"v=spf1 " "-all"'],
    ("_dmarc.shop.test.", "TXT"): ['"v=DMARC1; p=reject"'],
}


class _Dns(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.queries = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queries += 1
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        rdtype = dns.rdatatype.to_text(question.rdtype)
        answers = ZONE.get((question.name.to_text(), rdtype))
        if answers:
            response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", rdtype, answers))
        elif not any(name == question.name.to_text() for name, _ in ZONE):
            response.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def dns_server() -> AsyncIterator[tuple[_Dns, int]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(_Dns, local_addr=("127.0.0.1", 0))
    yield protocol, transport.get_extra_info("sockname")[1]
    transport.close()


async def test_resolves_addresses_and_txt_from_the_configured_server(dns_server: tuple[_Dns, int]) -> None:
    server, port = dns_server
    resolver = DnsPythonResolver(nameservers=["127.0.0.1"], port=port, timeout_s=2.0)
    assert await resolver.resolve("shop.test") == ["127.0.0.1", "::1"]
    assert await resolver.txt("shop.test") == ["v=spf1 -all"]
    assert await resolver.txt("_dmarc.shop.test") == ["v=DMARC1; p=reject"]
    assert await resolver.txt("_dmarc.nowhere.test") == []
    with pytest.raises(ResolutionError):
        await resolver.resolve("nowhere.test")
    assert server.queries >= 6
