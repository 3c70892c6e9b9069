"""Fixtures for audit engine tests: a trustme CA, loopback sites on random ports, fake DNS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from sites import (
    GOOD_TXT,
    ConnectSpy,
    Deploy,
    Deployment,
    FakeResolver,
    LoopbackSite,
    Reply,
    Route,
    free_port,
    good_routes,
    server_context,
)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def deploy(ca: trustme.CA, ca_file: Path, now: datetime) -> AsyncIterator[Deploy]:
    started: list[LoopbackSite] = []

    async def _deploy(
        routes: dict[str, Route] | None = None,
        *,
        name: str = "good.test",
        https: bool = True,
        http_routes: dict[str, Route] | None = None,
        cert_hosts: tuple[str, ...] = ("good.test", "www.good.test"),
        not_after: datetime | None = None,
        not_before: datetime | None = None,
    ) -> Deployment:
        https_site = None
        https_port = free_port()
        if https:
            tls = server_context(
                ca, *cert_hosts, not_after=not_after or now + timedelta(days=400, hours=12), not_before=not_before
            )
            https_site = await LoopbackSite(routes if routes is not None else good_routes(), tls=tls).start()
            started.append(https_site)
            https_port = https_site.port
        if http_routes is None:
            http_routes = (
                {"/": Reply(301, {"Location": f"https://{name}:{https_port}/"})}
                if https
                else (routes if routes is not None else good_routes())
            )
        http_site = await LoopbackSite(http_routes).start()
        started.append(http_site)
        return Deployment(name, https_site, http_site, https_port, http_site.port, ca_file)

    yield _deploy
    for site in started:
        await site.stop()


@pytest.fixture
async def canary() -> AsyncIterator[LoopbackSite]:
    site = await LoopbackSite({"/": Reply(200, {"Content-Type": "text/html"}, b"<html>canary</html>")}).start()
    yield site
    await site.stop()


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver({"good.test": ["127.0.0.1"], "www.good.test": ["127.0.0.1"]}, txt=dict(GOOD_TXT))


@pytest.fixture
def spy() -> ConnectSpy:
    return ConnectSpy()
