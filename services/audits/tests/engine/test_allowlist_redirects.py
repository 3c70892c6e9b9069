"""An allowlisted loopback site cannot steer the audit to another port of its own name: every redirect
hop is matched on name, address and port. A canary on 127.0.0.1 counts connections; a connect spy
records every dial. The allowlist is the service's, written the way the local launcher writes it."""

from __future__ import annotations

from datetime import datetime

import pytest
from sites import REPORT_URL, ConnectSpy, Deploy, Deployment, FakeResolver, LoopbackSite, Reply, good_routes

from audits.domain.result import AuditResult
from audits.engine import AuditFailure, FailureKind, Ports, run_audit
from audits.settings import AuditsSettings


async def audit_as_launched(site: Deployment, spy: ConnectSpy, now: datetime, *, https: bool = True) -> AuditResult:
    """Audit `site` with service settings like the launcher's: one `name@127.0.0.1:port` entry per port."""
    ports = [site.https_port, site.http_port] if https else [site.http_port]
    settings = AuditsSettings(
        allowlist=",".join(f"{site.name}@127.0.0.1:{port}" for port in ports),
        site_ports={site.name: Ports(https=site.https_port if https else None, http=site.http_port)},
        ca_file=site.ca_file,
        request_timeout_s=3.0,
        total_budget_s=8.0,
    )
    return await run_audit(
        site.name,
        settings=settings.engine_settings(),
        resolver=FakeResolver({site.name: ["127.0.0.1"]}),
        report_url=REPORT_URL,
        now=now,
        dialer=spy,
    )


async def test_redirect_to_the_same_allowlisted_name_on_another_port_is_refused_before_connecting(
    deploy: Deploy, canary: LoopbackSite, spy: ConnectSpy, now: datetime
) -> None:
    site = await deploy(good_routes(**{"/": Reply(302, {"Location": f"http://good.test:{canary.port}/"})}))
    with pytest.raises(AuditFailure) as failure:
        await audit_as_launched(site, spy, now)
    assert failure.value.kind is FailureKind.BLOCKED_ADDRESS
    assert failure.value.url is None  # no request was sent for the refused hop
    assert "good.test points to 127.0.0.1" in failure.value.message
    assert canary.hits == 0
    assert spy.calls == [("127.0.0.1", site.https_port)]


async def test_each_hop_is_checked_so_a_second_redirect_to_another_port_is_refused(
    deploy: Deploy, canary: LoopbackSite, spy: ConnectSpy, now: datetime
) -> None:
    # https -> the site's own allowlisted http port (fine) -> the canary's port under the same name (refused).
    site = await deploy(http_routes={"/hop": Reply(302, {"Location": f"http://good.test:{canary.port}/"})})
    assert site.https is not None and site.http is not None
    site.https.routes["/"] = Reply(302, {"Location": f"http://good.test:{site.http_port}/hop"})
    with pytest.raises(AuditFailure) as failure:
        await audit_as_launched(site, spy, now)
    assert failure.value.kind is FailureKind.BLOCKED_ADDRESS
    assert [r.path for r in site.http.requests] == ["/hop"]
    assert canary.hits == 0
    assert spy.calls == [("127.0.0.1", site.https_port), ("127.0.0.1", site.http_port)]


async def test_site_declared_without_https_is_audited_over_http_without_probing_other_ports(
    deploy: Deploy, spy: ConnectSpy, now: datetime
) -> None:
    site = await deploy(https=False)
    result = await audit_as_launched(site, spy, now, https=False)
    assert result.https_available is False
    assert spy.calls and set(spy.calls) == {("127.0.0.1", site.http_port)}
