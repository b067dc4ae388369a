"""`lead run` (what `make run` runs): serves a referral, stops cleanly, keeps the data."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from infra.local.processes import ends_with_parent, port_open
from infra.settings import PROJECT_ROOT, Settings
from tests.conftest import TEST_PORTS, subprocess_env
from tests.factories import referral_body
from tests.http import api_client
from tests.ports import port_or_free
from tests.processes import wait_until

pytestmark = pytest.mark.e2e

PORT = port_or_free(58081, TEST_PORTS)


def start(settings: Settings) -> subprocess.Popen[bytes]:
    log = open(settings.data_dir / "logs" / "lead-run.log", "ab")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "services.entrypoints.cli", "run"],
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=subprocess_env(LEAD_API_PORT=str(PORT)),
        preexec_fn=ends_with_parent(),  # its own children end with it in turn
    )


def children_running(settings: Settings) -> list[str]:
    """`lead api|relay|consumers|timers` processes of this test stack (by their LEAD_DATA_DIR):
    another stack's on the same machine is none of this test's business."""
    found = subprocess.run(
        ["pgrep", "-af", "services.entrypoints.cli (api|relay|consumers|timers)"],
        capture_output=True,
        text=True,
        check=False,
    )
    mine = f"LEAD_DATA_DIR={settings.data_dir}".encode()
    running = []
    for line in found.stdout.splitlines():
        try:
            environ = Path(f"/proc/{line.split()[0]}/environ").read_bytes().split(b"\0")
        except OSError:
            continue  # ended meanwhile
        if mine in environ:
            running.append(line)
    return running


def test_lead_run_serves_a_referral_stops_cleanly_and_keeps_its_data(
    people: dict[str, dict[str, str]], settings: Settings
) -> None:
    base = f"http://127.0.0.1:{PORT}"
    run = start(settings)
    try:
        wait_until(lambda: port_open("127.0.0.1", PORT), 60, "the API of lead run")
        with api_client(base, headers=people["pm.kim"], timeout=10) as client:
            receipt = client.post("/v1/referrals", json=referral_body()).json()
            url = f"/v1/referrals/{receipt['id']}"
            wait_until(lambda: client.get(url).status_code == 200, 60, "the projection")
    finally:
        run.send_signal(signal.SIGINT)  # Ctrl-C
        assert run.wait(timeout=90) == 0
    assert not port_open("127.0.0.1", PORT)
    assert children_running(settings) == []

    run = start(settings)
    try:
        wait_until(lambda: port_open("127.0.0.1", PORT), 60, "the API after a restart")
        answer = httpx.get(f"{base}{url}", headers=people["pm.kim"], timeout=10)
        assert answer.status_code == 200
        assert answer.json()["referral_id"] == receipt["id"]
    finally:
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=90) == 0


def test_a_killed_lead_run_leaves_no_process_behind(settings: Settings) -> None:
    """SIGKILL (an operator's kill -9, the machine's OOM killer) gives `lead run` no
    chance to stop its API, relay and workers: they end with it all the same, and the
    port is free for the next start."""
    run = start(settings)
    try:
        wait_until(lambda: port_open("127.0.0.1", PORT), 60, "the API of lead run")
        assert len(children_running(settings)) == 4
    finally:
        run.kill()
        run.wait(timeout=30)
    wait_until(lambda: children_running(settings) == [], 30, "lead run's children to end")
    assert not port_open("127.0.0.1", PORT)
