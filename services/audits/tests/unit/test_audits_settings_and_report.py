"""Service configuration (static resolver for local demos, allowlist off by default) and the report page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audits.adapters.resolvers import StaticResolver, resolver_from_settings
from audits.engine import DnsPythonResolver, ResolutionError
from audits.entrypoints.report_page import render_report
from audits.handlers.on_audit_requested import new_report_slug
from audits.settings import AuditsSettings


def test_defaults_allow_no_loopback_and_report_urls_use_the_local_entry_point() -> None:
    settings = AuditsSettings()
    assert settings.engine_settings().allowlist == ()
    assert settings.report_url("abc") == "http://127.0.0.1:8000/r/abc"
    assert settings.resolver == "dns" and settings.nameservers is None


def test_explicit_nameservers_configure_dnspython_without_system_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITS_NAMESERVERS", '["127.0.0.1"]')
    monkeypatch.setenv("AUDITS_NAMESERVER_PORT", "5353")
    resolver = resolver_from_settings(AuditsSettings())  # built only; no query is sent
    assert isinstance(resolver, DnsPythonResolver)
    assert resolver._resolver.nameservers == ["127.0.0.1"] and resolver._resolver.port == 5353


async def test_static_resolver_and_allowlist_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITS_RESOLVER", "static")
    monkeypatch.setenv("AUDITS_STATIC_HOSTS", '{"Good.Test.": "127.0.0.1", "two.test": ["127.0.0.2", "::1"]}')
    monkeypatch.setenv("AUDITS_STATIC_TXT", '{"_dmarc.good.test": ["v=DMARC1; p=reject"]}')
    monkeypatch.setenv("AUDITS_ALLOWLIST", "good.test@127.0.0.1:8443,127.0.0.1:8080")
    monkeypatch.setenv("AUDITS_SITE_PORTS", '{"good.test": {"https": 8443, "http": 8080}}')
    monkeypatch.setenv("AUDITS_PUBLIC_BASE_URL", "https://reports.example.test/")
    settings = AuditsSettings()
    resolver = resolver_from_settings(settings)
    assert isinstance(resolver, StaticResolver)
    assert await resolver.resolve("good.test") == ["127.0.0.1"]
    assert await resolver.resolve("TWO.test") == ["127.0.0.2", "::1"]
    assert await resolver.txt("_dmarc.good.test") == ["v=DMARC1; p=reject"]
    assert await resolver.txt("good.test") == []
    with pytest.raises(ResolutionError):
        await resolver.resolve("elsewhere.test")
    engine = settings.engine_settings()
    assert [(str(e.network), e.port, e.host) for e in engine.allowlist] == [
        ("127.0.0.1/32", 8443, "good.test"), ("127.0.0.1/32", 8080, None)]
    assert engine.ports_for("good.test").https == 8443
    assert settings.report_url("s") == "https://reports.example.test/r/s"


def test_report_slugs_are_long_random_and_url_safe() -> None:
    slugs = {new_report_slug() for _ in range(200)}
    assert len(slugs) == 200
    assert all(len(s) == 32 and s.replace("-", "").replace("_", "").isalnum() for s in slugs)


def test_report_page_escapes_everything_from_the_audit() -> None:
    evil = "<script>alert('x')</script>"
    page = render_report(
        domain="good.test", grade="C", score=72,
        categories={"seo": 70, "performance": 80, "security": 55, "mobile": 100, "accessibility": 90},
        result={"final_url": "https://good.test/?q=<b>\"", "checks": [
            {"id": "seo.h1", "category": "seo", "status": "FAIL", "points": 0, "finding": evil, "detail": "a&b"},
            {"id": "made.up", "category": "nope", "status": "PASS", "points": 100, "finding": "Fine"},
        ]},
        profile={"top_issue": evil, "second_issue": "Don't \"quote\"", "load_time_s": "1.2"},
        summary=f"Summary {evil}", audited_at=datetime(2026, 11, 28, tzinfo=UTC),
    )
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "a&amp;b" in page and "Don&#x27;t &quot;quote&quot;" in page
    assert "https://good.test/?q=&lt;b&gt;&quot;" in page
    assert "28 November 2026" in page and "72/100" in page
    assert 'style="width:55%;background:#c62828"' in page  # the security bar
