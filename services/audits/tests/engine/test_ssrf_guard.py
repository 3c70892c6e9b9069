"""SSRF: every loopback spelling, embedded and private form, redirect and rebinding attempt is refused
before any connection. A canary on 127.0.0.1 counts connections and a connect spy records every dial
(and stops any non-loopback one before a socket is opened)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sites import REPORT_URL, ConnectSpy, Deploy, FakeResolver, LoopbackSite, Reply, audit, good_routes

from audits.engine import AuditEngineSettings, AuditFailure, FailureKind, Ports, run_audit

LOOPBACK_FORMS = [
    "127.0.0.1",
    "2130706433",
    "0x7f000001",
    "0x7f.1",
    "0177.0.0.1",
    "017700000001",
    "127.1",
    "127.0.1",
    "0x7f.0.0.0x1",
    "127.0.0.1.",
    "１２７.０.０.１",
    "127.255.255.254",
    "[::1]",
    "::1",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "[0:0:0:0:0:ffff:7f00:0001]",
    "localhost",
    "LOCALHOST.",
    "ⓛⓞⓒⓐⓛⓗⓞⓢⓣ",
    "shop.localhost",
    "canary.test",
    "http://127.0.0.1/",
    "https://0x7f.1/",
]

# Resolved through fake DNS; none of these is ever dialled (the spy would stop it anyway).
NON_GLOBAL_ANSWERS = [
    "169.254.169.254",
    "169.254.170.2",
    "100.100.100.200",
    "192.0.0.192",
    "fd00:ec2::254",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.1",
    "240.0.0.1",
    "198.18.0.1",
    "192.0.2.1",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
    "2002:7f00:1::1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "2001:db8::1",
]


def canary_settings(canary: LoopbackSite, **extra: Any) -> AuditEngineSettings:
    """No allowlist; every loopback name points at the canary's port, so a guard bug would hit it."""
    names = ["127.0.0.1", "::1", "::ffff:7f00:1", "::7f00:1", "localhost", "shop.localhost", "canary.test", "meta.test"]
    return AuditEngineSettings(
        ports={n: Ports(https=canary.port, http=canary.port) for n in names},
        request_timeout_s=2.0,
        total_budget_s=4.0,
        **extra,
    )


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
async def test_every_loopback_form_is_refused_without_connecting(
    form: str, canary: LoopbackSite, spy: ConnectSpy
) -> None:
    resolver = FakeResolver({"canary.test": ["127.0.0.1"]})
    with pytest.raises(AuditFailure) as failure:
        await run_audit(form, settings=canary_settings(canary), resolver=resolver, report_url=REPORT_URL, dialer=spy)
    assert failure.value.kind is FailureKind.BLOCKED_ADDRESS
    assert spy.calls == []
    assert canary.hits == 0
    assert resolver.calls["localhost"] == 0  # RFC 6761 names never go to DNS


@pytest.mark.parametrize("answer", NON_GLOBAL_ANSWERS)
async def test_names_resolving_to_non_global_addresses_are_refused(
    answer: str, canary: LoopbackSite, spy: ConnectSpy
) -> None:
    resolver = FakeResolver({"meta.test": [answer]})
    with pytest.raises(AuditFailure) as failure:
        await run_audit(
            "meta.test", settings=canary_settings(canary), resolver=resolver, report_url=REPORT_URL, dialer=spy
        )
    assert failure.value.kind is FailureKind.BLOCKED_ADDRESS
    assert answer.split("::")[0] in failure.value.message or "points to" in failure.value.message
    assert spy.calls == []
    assert canary.hits == 0


async def test_allowlist_naming_another_host_does_not_open_loopback(canary: LoopbackSite, spy: ConnectSpy) -> None:
    resolver = FakeResolver({"canary.test": ["127.0.0.1"]})
    # good.test may dial the canary's very port; canary.test may not.
    settings = canary_settings(canary, allowlist=[f"good.test@127.0.0.1:{canary.port}", "127.0.0.1:1"])
    with pytest.raises(AuditFailure) as failure:
        await run_audit("canary.test", settings=settings, resolver=resolver, report_url=REPORT_URL, dialer=spy)
    assert failure.value.kind is FailureKind.BLOCKED_ADDRESS
    assert spy.calls == [] and canary.hits == 0


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{canary}/",
        "http://canary.test:{canary}/",
        "http://2130706433:{canary}/",
        "http://0x7f.1:{canary}/",
        "http://[::ffff:127.0.0.1]:{canary}/",
        "//127.0.0.1:{canary}/",
        "/\\127.0.0.1:{canary}/",
        "http://good.test:{canary}/",  # same allowed name, port not on the allowlist
    ],
)
async def test_redirect_from_allowed_site_to_canary_is_refused(
    location: str, deploy: Deploy, canary: LoopbackSite, spy: ConnectSpy, now: datetime
) -> None:
    site = await deploy(good_routes(**{"/": Reply(302, {"Location": location.format(canary=canary.port)})}))
    resolver = FakeResolver({"good.test": ["127.0.0.1"], "canary.test": ["127.0.0.1"]})
    with pytest.raises(AuditFailure) as failure:
        await audit(site, resolver, now, spy)
    assert failure.value.kind is FailureKind.BLOCKED_ADDRESS
    assert canary.hits == 0
    assert spy.calls == [("127.0.0.1", site.https_port)]


@pytest.mark.parametrize(
    ("location", "kind"),
    [
        ("file:///etc/passwd", FailureKind.BLOCKED_URL),
        ("gopher://127.0.0.1:{canary}/_GET", FailureKind.BLOCKED_URL),
        ("ftp://good.test/", FailureKind.BLOCKED_URL),
        ("dict://127.0.0.1:{canary}/", FailureKind.BLOCKED_URL),
        ("javascript:alert(1)", FailureKind.BLOCKED_URL),
        ("http://user:secret@good.test:{site}/", FailureKind.BLOCKED_URL),
        ("http://good.test@127.0.0.1:{canary}/", FailureKind.BLOCKED_URL),
    ],
)
async def test_redirect_to_other_schemes_or_credentials_is_refused(
    location: str, kind: FailureKind, deploy: Deploy, canary: LoopbackSite, spy: ConnectSpy, now: datetime
) -> None:
    site = await deploy(good_routes())
    assert site.https is not None
    site.https.routes["/"] = Reply(302, {"Location": location.format(canary=canary.port, site=site.https_port)})
    resolver = FakeResolver({"good.test": ["127.0.0.1"]})
    with pytest.raises(AuditFailure) as failure:
        await audit(site, resolver, now, spy)
    assert failure.value.kind is kind
    assert canary.hits == 0
    assert spy.calls == [("127.0.0.1", site.https_port)]


async def test_rebinding_resolver_cannot_switch_the_connection(canary: LoopbackSite, spy: ConnectSpy) -> None:
    # First answer looks public, every later answer is the canary: the checked address is pinned.
    resolver = FakeResolver({"rebind.test": [["93.184.215.14"], ["127.0.0.1"]]})
    settings = AuditEngineSettings(ports={"rebind.test": Ports(https=canary.port, http=canary.port)})
    with pytest.raises(AuditFailure) as failure:
        await run_audit("rebind.test", settings=settings, resolver=resolver, report_url=REPORT_URL, dialer=spy)
    assert failure.value.kind is FailureKind.CONNECTION_REFUSED  # the spy stops the public dial
    assert spy.calls == [("93.184.215.14", canary.port), ("93.184.215.14", canary.port)]
    assert resolver.calls["rebind.test"] == 1
    assert canary.hits == 0


async def test_answer_mixing_public_and_loopback_is_refused(canary: LoopbackSite, spy: ConnectSpy) -> None:
    resolver = FakeResolver({"mixed.test": ["93.184.215.14", "127.0.0.1"]})
    settings = AuditEngineSettings(ports={"mixed.test": Ports(https=canary.port, http=canary.port)})
    with pytest.raises(AuditFailure) as failure:
        await run_audit("mixed.test", settings=settings, resolver=resolver, report_url=REPORT_URL, dialer=spy)
    assert failure.value.kind is FailureKind.BLOCKED_ADDRESS
    assert spy.calls == [] and canary.hits == 0


async def test_public_answer_is_dialled_at_the_checked_ip_only(spy: ConnectSpy) -> None:
    resolver = FakeResolver({"shop.example": ["2606:2800:220:1:248:1893:25c8:1946"]})
    with pytest.raises(AuditFailure):
        await run_audit(
            "shop.example", settings=AuditEngineSettings(), resolver=resolver, report_url=REPORT_URL, dialer=spy
        )
    assert spy.calls == [("2606:2800:220:1:248:1893:25c8:1946", 443), ("2606:2800:220:1:248:1893:25c8:1946", 80)]


async def test_redirect_to_a_public_name_is_dialled_at_its_checked_ip(
    deploy: Deploy, spy: ConnectSpy, now: datetime
) -> None:
    site = await deploy(good_routes(**{"/": Reply(302, {"Location": "https://elsewhere.example/"})}))
    resolver = FakeResolver({"good.test": ["127.0.0.1"], "elsewhere.example": [["93.184.215.14"], ["127.0.0.1"]]})
    with pytest.raises(AuditFailure) as failure:
        await audit(site, resolver, now, spy)
    assert failure.value.kind is FailureKind.CONNECTION_REFUSED
    assert spy.calls == [("127.0.0.1", site.https_port), ("93.184.215.14", 443)]


async def test_companion_files_redirecting_to_canary_count_as_missing(
    deploy: Deploy, canary: LoopbackSite, spy: ConnectSpy, now: datetime
) -> None:
    to_canary = Reply(302, {"Location": f"http://127.0.0.1:{canary.port}/robots.txt"})
    site = await deploy(good_routes(**{"/robots.txt": to_canary, "/sitemap.xml": to_canary}))
    resolver = FakeResolver({"good.test": ["127.0.0.1"]})
    result, profile = await audit(site, resolver, now, spy)
    assert result.robots_txt is None and not result.sitemap_found
    assert profile["seo_score"] == "90"  # robots.txt WARN + sitemap WARN
    assert canary.hits == 0
    assert {port for _, port in spy.calls} <= {site.https_port, site.http_port}
