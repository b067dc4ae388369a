"""Fixtures for the integration and e2e layers: the real Kafka and PostgreSQL.

They run in `.lead/test` on ports of their own, so a developer's `make run` keeps
going while the tests run; a port another program holds is swapped for a free one
(pytest's header says which ports this run uses). The stack is started once per
session by the same `infra` code `lead infra up` uses, from empty data, and stopped
at the end.
LEAD_KAFKA_BOOTSTRAP / LEAD_DATABASE_URL, when set, point the tests at external
servers instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from infra import stack
from infra.bootstrap import Container
from infra.settings import PROJECT_ROOT, Settings
from services.commands import AdoptPolicy
from tests.factories import POLICY_TERMS
from tests.ports import port_or_free
from tests.processes import stop_all
from tests.scenario import ADMIN

TEST_PORTS: set[int] = set()  # chosen for this run; a test wanting one more avoids them
# LEAD_TEST_SLOT=N runs a second test stack beside the first (.lead/test-N, ports + 1000 N),
# so two checkouts' or two developers' test runs on one machine keep out of each other's way.
SLOT = int(os.environ.get("LEAD_TEST_SLOT", "0") or 0)
_SHIFT = 1000 * SLOT
TEST_ENV = {
    "LEAD_ENVIRONMENT": "test",
    "LEAD_SITE_ID": "test-site",
    "LEAD_DATA_DIR": str(PROJECT_ROOT / ".lead" / (f"test-{SLOT}" if SLOT else "test")),
    "LEAD_KAFKA_PORT": str(port_or_free(59192 + _SHIFT, TEST_PORTS)),
    "LEAD_KAFKA_CONTROLLER_PORT": str(port_or_free(59193 + _SHIFT, TEST_PORTS)),
    "LEAD_PG_PORT": str(port_or_free(55532 + _SHIFT, TEST_PORTS)),
    "LEAD_API_PORT": str(port_or_free(58080 + _SHIFT, TEST_PORTS)),
    "LEAD_CONSUMER_WEB_PORT": str(port_or_free(56066 + _SHIFT, TEST_PORTS)),
    "LEAD_CONSUMER_GROUP": "lead-projections-test",
}


def pytest_report_header() -> str:
    ports = ", ".join(
        f"{k.removeprefix('LEAD_').lower()} {v}" for k, v in TEST_ENV.items() if k.endswith("_PORT")
    )
    return f"test stack: {TEST_ENV['LEAD_DATA_DIR']}; {ports}"


def make_test_settings(**overrides: str) -> Settings:
    values = {**TEST_ENV, **overrides}
    return Settings.model_validate({k.removeprefix("LEAD_").lower(): v for k, v in values.items()})


def subprocess_env(**overrides: str) -> dict[str, str]:
    return {**os.environ, **TEST_ENV, **overrides}


def run_lead(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`lead ARGS...` against the test stack (or the one `env` names), as an operator
    would type it."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=PROJECT_ROOT,
        env=env or subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    settings = make_test_settings()
    stack.destroy(settings)
    stack.up(settings)
    container = Container(settings)
    container.prepare()
    container.application.adopt_policy(AdoptPolicy(terms=POLICY_TERMS), ADMIN)
    container.application.close()
    try:
        yield settings
    finally:
        stop_all()
        stack.down(settings)


@pytest.fixture(scope="session")
def container(settings: Settings) -> Iterator[Container]:
    container = Container(settings)
    yield container
    container.application.close()
