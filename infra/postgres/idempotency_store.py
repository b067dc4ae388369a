"""Idempotency keys in PostgreSQL: claimed with an insert, so two racing requests cannot
both run; purged once older than the time they are kept for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg_pool import ConnectionPool


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    status: int | None  # None while the first request is still running
    content_type: str | None
    body: bytes | None
    claimed_at: datetime


IDEMPOTENCY_DDL = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    caller text NOT NULL,
    key text NOT NULL,
    fingerprint text NOT NULL,
    status integer,
    content_type text,
    body bytea,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    PRIMARY KEY (caller, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_claimed_at ON idempotency_keys (claimed_at)
"""


class PostgresIdempotencyStore:
    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def claim(
        self, caller: str, key: str, fingerprint: str, at: datetime | None = None
    ) -> Stored | None:
        with self.pool.connection() as conn:
            inserted = conn.execute(
                "INSERT INTO idempotency_keys (caller, key, fingerprint, claimed_at) "
                "VALUES (%s, %s, %s, coalesce(%s, now())) ON CONFLICT DO NOTHING RETURNING 1",
                (caller, key, fingerprint, at),
            ).fetchone()
            if inserted:
                return None
            row = conn.execute(
                "SELECT fingerprint, status, content_type, body, claimed_at "
                "FROM idempotency_keys WHERE caller = %s AND key = %s",
                (caller, key),
            ).fetchone()
        if row is None:  # released between the two statements: claim again
            return self.claim(caller, key, fingerprint, at)
        fp, status, content_type, body, claimed_at = row
        return Stored(fp, status, content_type, bytes(body) if body else None, claimed_at)

    def complete(
        self, caller: str, key: str, status: int, content_type: str | None, body: bytes
    ) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE idempotency_keys SET status = %s, content_type = %s, body = %s, "
                "completed_at = now() WHERE caller = %s AND key = %s",
                (status, content_type, body, caller, key),
            )

    def release(self, caller: str, key: str) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "DELETE FROM idempotency_keys WHERE caller = %s AND key = %s", (caller, key)
            )

    def purge(self, claimed_before: datetime) -> int:
        with self.pool.connection() as conn:
            cursor = conn.execute(
                "DELETE FROM idempotency_keys WHERE claimed_at < %s", (claimed_before,)
            )
            return int(cursor.rowcount)
