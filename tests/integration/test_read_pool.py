"""The API's read pool after PostgreSQL closed its connections (a restart, a failover)."""

from __future__ import annotations

import time

import psycopg
import pytest

from services.bootstrap import Container

pytestmark = pytest.mark.integration


def test_a_connection_postgres_closed_is_replaced_not_handed_out(container: Container) -> None:
    pool = container.read_pool()
    pool.open(wait=True)
    try:
        with pool.connection() as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            backend = row[0]
        with psycopg.connect(container.settings.dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
            deadline = time.monotonic() + 10
            while admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,)
            ).fetchone():
                assert time.monotonic() < deadline, "the backend did not end"
                time.sleep(0.05)
        # The pool still holds the dead connection: the next request gets a live one.
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            again = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert again is not None and again[0] != backend
    finally:
        pool.close()
