"""PostgreSQL on a loopback host connects without TLS unless the URL chooses a mode; anything else keeps the
driver's default."""

from __future__ import annotations

import pytest

from servicekit.process.db import tls_needless


@pytest.mark.parametrize("url", [
    "postgresql+asyncpg://u:p@127.0.0.1:5432/db",
    "postgresql+asyncpg://u:p@localhost/db",
    "postgresql+asyncpg://u:p@[::1]:5432/db",
])
def test_loopback_without_a_tls_choice_goes_without_tls(url: str) -> None:
    assert tls_needless(url)


@pytest.mark.parametrize("url", [
    "postgresql+asyncpg://u:p@db.internal:5432/db",           # a real network hop keeps asyncpg's `prefer`
    "postgresql+asyncpg://u:p@10.0.0.5/db",
    "postgresql+asyncpg://u:p@127.0.0.1/db?sslmode=require",  # the URL decides
    "postgresql+asyncpg://u:p@127.0.0.1/db?ssl=true",
    "sqlite+aiosqlite:///x.db",
])
def test_other_hosts_or_an_explicit_mode_keep_the_drivers_behaviour(url: str) -> None:
    assert not tls_needless(url)
