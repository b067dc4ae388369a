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

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from infra.kafka import security as kafka_security
from infra.local import stack
from infra.local.processes import free_port
from infra.settings import PROJECT_ROOT, Settings
from services.bootstrap import Container
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
    "LEAD_RELAY_METRICS_PORT": str(port_or_free(56067 + _SHIFT, TEST_PORTS)),
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


# The tests' own Kafka clients (readers, producers of junk, the in-process relay and
# workers) connect as the admin, the super user: they check what the others did.
kafka_security.use(make_test_settings(), "admin")


@contextlib.contextmanager
def own_stack(name: str, shift: int, **extra: str) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A Kafka and PostgreSQL of a test module's own, started from empty data under the
    test stack's data directory, on ports `shift` above the test stack's (or free ones),
    with the site policy adopted; yields its settings and its LEAD_ variables (for the
    subprocesses a test starts). Within it this process's Kafka clients connect to it."""
    shared = make_test_settings()
    env = {
        "LEAD_DATA_DIR": str(shared.data_dir / name),
        **extra,
        **{
            f"LEAD_{port.upper()}": str(free_port(getattr(shared, port) + shift))
            for port in (
                "kafka_port",
                "kafka_controller_port",
                "pg_port",
                "api_port",
                "consumer_web_port",
                "relay_metrics_port",
            )
        },
    }
    own = make_test_settings(**env)
    stack.destroy(own)
    stack.up(own)
    try:
        with kafka_security.connecting_as(own, "admin"):
            container = Container(own)
            container.prepare()
            container.application.adopt_policy(AdoptPolicy(terms=POLICY_TERMS), ADMIN)
            container.application.close()
            yield own, env
    finally:
        stack.destroy(own)


def subprocess_env(**overrides: str) -> dict[str, str]:
    return {**os.environ, **TEST_ENV, **overrides}


def run_lead(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`lead ARGS...` against the test stack (or the one `env` names), as an operator
    would type it."""
    return subprocess.run(
        [sys.executable, "-m", "services.entrypoints.cli", *args],
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
