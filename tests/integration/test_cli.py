"""The operator's commands against the real stack, run as an operator runs them."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from infra.settings import Settings
from services.bootstrap import Container
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
    seeded = lead(
        "demo",
        "seed",
        "--participants",
        "15",
        "--months",
        "3",
        "--seed",
        "3",
        "--i-know-this-is-not-demo-data",
    )
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    report = dict(line.split() for line in seeded.stdout.splitlines() if line.strip())
    assert report["enrolled"] == "15"
    assert int(report["events"]) > 15 * 5
    assert "ETA" in seeded.stderr  # progress with a rate and an ETA


def test_a_token_is_issued_and_rotated_for_the_days_given(container: Container) -> None:
    from datetime import UTC, datetime, timedelta

    from services.principals import Principals

    name = f"officer.days{uuid.uuid4().hex[:8]}"
    added = lead(
        "principals", "add", "--role", "officer", "--org", "Seattle PD", "--valid-days", "7", name
    )
    assert added.returncode == 0, added.stderr
    in_a_week = datetime.now(UTC) + timedelta(days=7)
    assert f"valid until {in_a_week:%Y-%m-%d}" in added.stderr
    principal = Principals(container.application)._principal(name)
    expires = principal.expires_at()
    assert expires is not None and abs(expires - in_a_week) < timedelta(minutes=5)
    rotated = lead("principals", "rotate", name, "--valid-days", "400")
    assert rotated.returncode == 0, rotated.stderr
    expires = Principals(container.application)._principal(name).expires_at()
    assert expires is not None
    assert abs(expires - (datetime.now(UTC) + timedelta(days=400))) < timedelta(minutes=5)
    refused = lead("principals", "rotate", name, "--valid-days", "0")
    assert refused.returncode == 2 and "not between 1 and 3650" in refused.stderr


def test_demo_seed_and_bench_refuse_a_store_holding_other_history(container: Container) -> None:
    """The test store holds the tests' own history: neither writes into it unasked."""
    before = container.application.recorder.max_notification_id()
    for argv in (
        ("demo", "seed", "--participants", "1", "--months", "1"),
        ("bench", "append", "--events", "10", "--rounds", "1", "--no-write"),
    ):
        refused = lead(*argv)
        assert refused.returncode == 1, refused.stderr[-2000:]
        assert "holds history the demo and the benchmarks did not make" in refused.stderr
        assert "--i-know-this-is-not-demo-data" in refused.stderr
    assert container.application.recorder.max_notification_id() == before


def test_only_the_demos_and_benchmarks_actors_count_as_synthetic(settings: Settings) -> None:
    import json

    import psycopg

    from services.tools.synthetic import first_foreign_event

    def row(position: int, principal: str) -> tuple[int, str, bytes]:
        state = {"actor": {"principal": principal, "role": "officer", "organisation": "X"}}
        return position, "events.referral:ReferralReceived", json.dumps(state).encode()

    with psycopg.connect(settings.dsn) as conn:
        conn.execute("CREATE TEMP TABLE scratch (notification_id bigint, topic text, state bytea)")
        assert first_foreign_event(conn, "scratch") is None  # empty
        synthetic = ["lead-backend", "admin.pcg", "officer.03", "cm.17", "bench.officer"]
        for i, principal in enumerate(synthetic, start=1):
            conn.execute("INSERT INTO scratch VALUES (%s, %s, %s)", row(i, principal))
        assert first_foreign_event(conn, "scratch") is None
        conn.execute("INSERT INTO scratch VALUES (%s, %s, %s)", row(9, "officer.reyes"))
        conn.execute("INSERT INTO scratch VALUES (%s, %s, %s)", row(7, "cli:root"))
        found = first_foreign_event(conn, "scratch")
        assert found is not None and (found.position, found.principal) == (7, "cli:root")
        assert str(found) == "position 7, ReferralReceived by cli:root"
