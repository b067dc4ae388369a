"""The running backend connects to PostgreSQL as its least-privilege roles, over TLS."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import run_lead
from tests.e2e.conftest import Backend
from tests.processes import wait_until

pytestmark = pytest.mark.e2e


def sessions(dsn: str) -> set[tuple[str, bool]]:
    """(user, TLS) of every other client session on the database."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT a.usename, s.ssl FROM pg_stat_activity a "
            "JOIN pg_stat_ssl s USING (pid) "
            "WHERE a.datname = current_database() AND a.backend_type = 'client backend' "
            "AND a.pid <> pg_backend_pid()"
        ).fetchall()
    return {(str(user), bool(ssl)) for user, ssl in rows}


def test_each_process_connects_as_its_own_role_over_tls(backend: Backend) -> None:
    dsn = backend.settings.dsn
    wanted = {("lead_app", True), ("lead_read", True)}
    wait_until(lambda: wanted <= sessions(dsn), 60, "the API, relay and workers", backend.procs)
    seen = sessions(dsn)
    assert {user for user, _ in seen} <= {"lead_app", "lead_read"}, seen  # never the owner
    assert all(ssl for _, ssl in seen), seen


def test_the_auditor_verifies_the_chain_with_read_only_access(backend: Backend) -> None:
    verified = run_lead("audit", "verify", "--no-topic")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "store" in verified.stdout and "intact" in verified.stdout, verified.stdout
