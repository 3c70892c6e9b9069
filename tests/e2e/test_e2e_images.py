"""The images run: every service's API, consumers and relay, the simulator and the dashboard as containers of the
images `make images` built (podman; read-only root filesystem, non-root user, host network so the broker,
the database, the demo websites and the gateway stay on loopback), and the help page's seed flow passes through
the gateway: create → audit → writeback → push → send → reply webhooks → Unibox reply → complete → remove."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator

import pytest
from e2e_testkit import E2E, system_running
from test_e2e_seed_flow import test_the_seed_flow_end_to_end as seed_flow

from outreach_local.system import SERVICES, LocalSystem

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]
TAG = "dev"
IMAGES = (*SERVICES, "dashboard", "plusvibe-simulator")
PODMAN = ["podman", "--runtime", "runc"]


@pytest.fixture(scope="module")
def running_system(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, postgres_url: str
                   ) -> Iterator[tuple[LocalSystem, dict[str, str]]]:
    missing = [image for image in IMAGES if subprocess.run(
        [*PODMAN, "image", "exists", f"localhost/outreach-{image}:{TAG}"], check=False).returncode != 0]
    assert not missing, f"images not built: {missing}; `make images` builds them (make test does it first)"
    with system_running(tmp_path_factory, kafka_bootstrap, postgres_url, image_tag=TAG) as running:
        yield running


async def test_the_seed_flow_through_the_containers(e2e: E2E) -> None:
    containers = {p.name: p.container for p in e2e.system.procs if p.container}
    expected = {f"{svc}-{role}" for svc in SERVICES for role in ("api", "consumers", "relay")} | {
        "simulator", "dashboard"}
    assert set(containers) == expected
    secrets = (e2e.config.simulator_api_key, e2e.config.webhook_secret, e2e.config.api_key)
    for proc in e2e.system.procs:  # no secret on a command line (every process listing of the machine shows it)
        assert not any(secret in " ".join(proc.argv) for secret in secrets), proc.name
    inspect = await asyncio.create_subprocess_exec(*PODMAN, "inspect", *containers.values(),
                                                   stdout=asyncio.subprocess.PIPE)
    out, _ = await inspect.communicate()
    assert inspect.returncode == 0
    inspected = json.loads(out)
    assert len(inspected) == len(expected)
    for container in inspected:
        assert container["State"]["Running"], container["Name"]
        assert container["HostConfig"]["ReadonlyRootfs"] is True, container["Name"]
        assert container["Config"]["User"] == "10001:10001", container["Name"]
        assert container["ImageName"].startswith("localhost/outreach-"), container["Name"]

    await seed_flow(e2e)
