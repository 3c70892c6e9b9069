"""Pure classification of addresses, hosts and URLs: nothing here opens a socket."""

from __future__ import annotations

import ipaddress

import pytest

from audits.engine import AllowEntry, AuditFailure, FailureKind
from audits.engine.addresses import classify
from audits.engine.hosts import HostError, parse_host
from audits.engine.ssrf import SsrfGuard, parse_url


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("169.254.1.1", "link_local"),
        ("169.254.169.254", "metadata"),
        ("169.254.170.2", "metadata"),
        ("100.100.100.200", "metadata"),
        ("192.0.0.192", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.64.0.1", "cgnat"),
        ("100.127.255.254", "cgnat"),
        ("224.0.0.251", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::fb", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("198.18.0.1", "reserved"),
        ("192.0.2.10", "documentation"),
        ("2001:db8::1", "documentation"),
        ("fe80::1", "link_local"),
        ("fc00::1", "private"),
        ("fec0::1", "private"),
        ("64:ff9b:1::1", "private"),
        ("::ffff:127.0.0.1", "embedded_ipv4_loopback"),
        ("::ffff:8.8.8.8", "embedded_ipv4_reserved"),  # mapped forms are never needed for a public site
        ("::127.0.0.1", "embedded_ipv4_loopback"),
        ("::ffff:169.254.169.254", "embedded_ipv4_link_local"),
        ("64:ff9b::127.0.0.1", "embedded_ipv4_loopback"),
        ("64:ff9b::a9fe:a9fe", "embedded_ipv4_metadata"),
        ("2002:7f00:1::", "embedded_ipv4_loopback"),
        ("2002:c0a8:101::1", "embedded_ipv4_private"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "embedded_ipv4_loopback"),  # Teredo client 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "embedded_ipv4_documentation"),  # Teredo client 192.0.2.45
    ],
)
def test_non_global_addresses_are_refused_with_a_reason(address: str, reason: str) -> None:
    verdict = classify(ipaddress.ip_address(address))
    assert not verdict.allowed
    assert verdict.reason == reason


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:2800:220:1:248:1893:25c8:1946", "64:ff9b::808:808"]
)
def test_global_unicast_addresses_are_allowed(address: str) -> None:
    assert classify(ipaddress.ip_address(address)).allowed


def test_scoped_ipv6_is_refused() -> None:
    assert not classify(ipaddress.IPv6Address("2606:2800:220:1::1%eth0")).allowed


@pytest.mark.parametrize(
    "text",
    [
        "2130706433",
        "0x7f000001",
        "0X7F000001",
        "0x7f.1",
        "0177.0.0.1",
        "017700000001",
        "127.1",
        "127.0.1",
        "0x7f.0.0.0x1",
        "0x7f.0.0.01",
        "127.0.0.1.",
        "１２７.０.０.１",
        "127。0。0。1",
    ],
)
def test_odd_ipv4_spellings_parse_as_loopback(text: str) -> None:
    assert parse_host(text).ip == ipaddress.IPv4Address("127.0.0.1")


@pytest.mark.parametrize(
    ("text", "name"), [("ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", "localhost"), ("Good.TEST.", "good.test"), ("bücher.test", "xn--bcher-kva.test")]
)
def test_names_are_folded_like_browsers_do(text: str, name: str) -> None:
    host = parse_host(text)
    assert host.ip is None and host.name == name


@pytest.mark.parametrize(
    "text",
    ["", "a b.test", "08.1.1.1", "1.2.3.4.5", "256.1.1.1", "0x1.0x100.1.1", "-bad.test", "[fe80::1%25eth0]", "a/b"],
)
def test_malformed_hosts_are_rejected(text: str) -> None:
    with pytest.raises(HostError):
        parse_host(text)


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("http://2130706433/x?y=1", "http://127.0.0.1/x?y=1"),
        ("HTTPS://Good.Test:443/", "https://good.test/"),
        ("http://[::ffff:127.0.0.1]:8080", "http://[::ffff:7f00:1]:8080/"),
        ("http:\\\\0x7f.1\\admin", "http://127.0.0.1/admin"),
    ],
)
def test_urls_are_canonicalised_before_any_check(url: str, canonical: str) -> None:
    assert str(parse_url(url).url) == canonical


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
        "ftp://good.test/",
        "ws://good.test/",
        "javascript:alert(1)",
        "http://user:pw@good.test/",
        "http://good.test@127.0.0.1/",
        "http://@good.test/",
        "//good.test/",
        "http://good.test:0/",
        "http://good.test:99999/",
        "http://good.test:8o/",
        "http://%31%32%37.0.0.1/",
    ],
)
def test_non_http_schemes_credentials_and_bad_ports_are_refused(url: str) -> None:
    with pytest.raises(AuditFailure) as failure:
        parse_url(url)
    assert failure.value.kind is FailureKind.BLOCKED_URL


@pytest.mark.parametrize(
    ("text", "host", "address", "port", "allowed"),
    [
        ("127.0.0.1:443", "good.test", "127.0.0.1", 443, True),
        ("127.0.0.1:8443", "good.test", "127.0.0.1", 8443, True),
        ("127.0.0.1:8443", "good.test", "127.0.0.1", 8080, False),
        ("good.test@127.0.0.1:8443", "good.test", "127.0.0.1", 8443, True),
        ("good.test@127.0.0.1:8443", "canary.test", "127.0.0.1", 8443, False),
        ("127.0.0.0/8:80", "x.test", "127.9.9.9", 80, True),
        ("[::1]:8443", "x.test", "::1", 8443, True),
        ("[::1]:8443", "x.test", "127.0.0.1", 8443, False),
    ],
)
def test_allowlist_entries_narrow_by_network_port_and_host(
    text: str, host: str, address: str, port: int, allowed: bool
) -> None:
    assert AllowEntry.parse(text).matches(host, ipaddress.ip_address(address), port) is allowed


async def test_guard_pins_first_answer_and_never_resolves_twice() -> None:
    class Resolver:
        calls = 0

        async def resolve(self, name: str) -> list[str]:
            Resolver.calls += 1
            return ["93.184.215.14"] if Resolver.calls == 1 else ["127.0.0.1"]

        async def txt(self, name: str) -> list[str]:
            return []

    guard = SsrfGuard(resolver=Resolver())
    first = await guard.admit("https://shop.example/")
    second = await guard.admit("http://shop.example/other")
    assert str(first.address) == str(second.address) == "93.184.215.14"
    assert Resolver.calls == 1
    assert guard.pinned("shop.example", 443) == ipaddress.ip_address("93.184.215.14")
    assert guard.pinned("shop.example", 8443) is None
