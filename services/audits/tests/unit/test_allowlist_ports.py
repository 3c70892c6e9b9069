"""Allowlist entries name the one port they allow; a port-less entry is a settings error. No sockets here."""

from __future__ import annotations

import ipaddress
import re

import pytest
from pydantic import ValidationError
from sites import FakeResolver

from audits.engine import AllowEntry, AuditEngineSettings, AuditFailure, FailureKind
from audits.engine.ssrf import SsrfGuard
from audits.settings import AuditsSettings

LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.mark.parametrize(
    ("host", "port", "allowed"),
    [
        ("good.test", 8443, True),
        ("good.test", 8444, False),  # same host, another port
        ("good.test", 443, False),  # not even the standard ports are implied
        ("good.test", 80, False),
        ("canary.test", 8443, False),  # the allowed port, another host
    ],
)
def test_entry_allows_its_host_on_its_port_only(host: str, port: int, allowed: bool) -> None:
    entry = AllowEntry.parse("good.test@127.0.0.1:8443")
    assert (entry.host, entry.port) == ("good.test", 8443)
    assert entry.matches(host, LOOPBACK, port) is allowed


@pytest.mark.parametrize(
    "text", ["good.test@127.0.0.1", "127.0.0.1", "127.0.0.0/8", "[::1]", "::1", "good.test@[::1]"]
)
def test_entry_without_a_port_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="no port") as refused:
        AllowEntry.parse(text)
    assert text in str(refused.value)
    assert "[name@]address-or-cidr:port" in str(refused.value)


@pytest.mark.parametrize(
    "text", ["good.test@127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:8o", "127.0.0.1:+80", "[::1]8443"]
)
def test_entry_with_a_malformed_port_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="allowlist entry"):
        AllowEntry.parse(text)


def test_engine_settings_refuse_a_port_less_entry_among_good_ones() -> None:
    with pytest.raises(ValidationError, match=re.escape("entry 'good.test@127.0.0.1' is invalid")):
        AuditEngineSettings(allowlist="good.test@127.0.0.1:8443,good.test@127.0.0.1")


def test_service_refuses_a_port_less_allowlist_when_its_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITS_ALLOWLIST", "good.test@127.0.0.1")
    with pytest.raises(ValidationError, match="no port"):
        AuditsSettings()


def test_service_allowlist_with_one_entry_per_port_reaches_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITS_ALLOWLIST", "good.test@127.0.0.1:8443, good.test@127.0.0.1:8080")
    entries = AuditsSettings().engine_settings().allowlist
    assert [(e.host, e.port) for e in entries] == [("good.test", 8443), ("good.test", 8080)]


async def test_guard_admits_the_listed_port_and_refuses_another_port_of_the_same_name() -> None:
    resolver = FakeResolver({"good.test": ["127.0.0.1"]})
    guard = SsrfGuard(resolver=resolver, allowlist=(AllowEntry.parse("good.test@127.0.0.1:8080"),))
    target = await guard.admit("http://good.test:8080/")
    assert target.address == LOOPBACK
    for url in ("http://good.test:8081/", "http://good.test/", "https://good.test/"):
        with pytest.raises(AuditFailure) as refused:
            await guard.admit(url)
        assert refused.value.kind is FailureKind.BLOCKED_ADDRESS
    assert guard.pinned("good.test", 8081) is None and guard.pinned("good.test", 80) is None
    assert resolver.calls["good.test"] == 1
