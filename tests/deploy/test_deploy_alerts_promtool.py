"""The alert rules, judged by Prometheus' own tool: `promtool check rules` accepts the groups of the PrometheusRule,
and `promtool test rules` runs tests/deploy/promtool/alerts-test.yaml — every alert fires on sample series shaped
like the services' metrics, with the labels it is routed by, and stays silent where it must (before its `for`,
on a draining outbox, a steady check, a group below the threshold). promtool comes from Debian's `prometheus`
package (deploy/local/setup-promtool.sh, run by `make test`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import K8S, ROOT

RULES = K8S / "components" / "monitoring" / "alerts.yaml"
TESTS = ROOT / "tests" / "deploy" / "promtool" / "alerts-test.yaml"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path is not None, "promtool is missing: bash deploy/local/setup-promtool.sh installs it"
    return path


def _alerts() -> set[str]:
    spec = yaml.safe_load(RULES.read_text())["spec"]
    return {rule["alert"] for group in spec["groups"] for rule in group["rules"] if "alert" in rule}


def _cases() -> list[dict[str, Any]]:
    return [case for test in yaml.safe_load(TESTS.read_text())["tests"] for case in test["alert_rule_test"]]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    spec = yaml.safe_load(RULES.read_text())["spec"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": spec["groups"]}, sort_keys=False))
    tests = yaml.safe_load(TESTS.read_text())
    tests["rule_files"] = ["rules.yaml"]
    (tmp_path / "alerts-test.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    return tmp_path


def test_promtool_accepts_the_rules(promtool: str, rules_dir: Path) -> None:
    done = subprocess.run([promtool, "check", "rules", "rules.yaml"], cwd=rules_dir, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in done.stdout


def test_every_alert_fires_and_stays_silent_as_its_unit_tests_say(promtool: str, rules_dir: Path) -> None:
    done = subprocess.run([promtool, "test", "rules", "alerts-test.yaml"], cwd=rules_dir, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    cases = _cases()
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    silent = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert fired == _alerts()
    assert silent == _alerts()
    for case in cases:  # a firing case names the labels the alert is routed and grouped by
        for alert in case.get("exp_alerts") or []:
            assert {"severity", "namespace"} <= set(alert["exp_labels"]), case
