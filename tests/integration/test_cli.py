"""The operator's commands against the real stack, run as an operator runs them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from infra.settings import Settings
from tests.conftest import run_lead
from tests.factories import POLICY_TERMS

pytestmark = pytest.mark.integration


def lead(*args: str) -> subprocess.CompletedProcess[str]:
    return run_lead(*args, timeout=120)


def test_policy_adopt_from_a_file_and_show(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(POLICY_TERMS.model_dump(mode="json")))
    adopted = lead("policy", "adopt", str(path), "--principal", "pcg.chair")
    assert adopted.returncode == 0, adopted.stderr
    assert "adopted policy version" in adopted.stdout
    shown = lead("policy", "show")
    assert shown.returncode == 0
    assert "effective 2020-01-01" in shown.stdout and "69.50.4013" in shown.stdout


def test_a_bad_policy_file_is_refused_with_the_field_named(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    data = POLICY_TERMS.model_dump(mode="json")
    data["caseload"]["hard_cap"] = "lots"
    path.write_text(yaml.safe_dump(data))
    before = lead("policy", "show").stdout
    refused = lead("policy", "adopt", str(path))
    assert refused.returncode == 2
    assert "caseload.hard_cap" in refused.stderr
    assert lead("policy", "show").stdout == before  # nothing recorded


def test_infra_status_says_what_runs_where(settings: Settings) -> None:
    status = lead("infra", "status")
    assert status.returncode == 0
    assert f"kafka     running  {settings.bootstrap_servers}" in status.stdout
    assert "topic     lead.events.v1  (6 partitions)" in status.stdout


def test_demo_seed_builds_a_synthetic_site_through_the_commands(settings: Settings) -> None:
    seeded = lead("demo", "seed", "--participants", "15", "--months", "3", "--seed", "3")
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    report = dict(line.split() for line in seeded.stdout.splitlines() if line.strip())
    assert report["enrolled"] == "15"
    assert int(report["events"]) > 15 * 5
    assert "ETA" in seeded.stderr  # progress with a rate and an ETA
