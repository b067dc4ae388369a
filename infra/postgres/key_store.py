"""People's data keys in PostgreSQL: the table `person_keys` (each data key wrapped by one
of the site's master keys, beside that key's id) and `PostgresKeyStore`, the `KeyStore`
the application runs on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, overload
from uuid import UUID

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.crypto.master_keys import MasterKeys, UnknownMasterKeyError, unwrap_any
from infra.crypto.sealing import UNLABELLED, KeyCounts, Rewrapped

PERSON_KEYS_DDL = """
CREATE TABLE IF NOT EXISTS person_keys (
    person_id uuid PRIMARY KEY,
    wrapped bytea,
    master_key_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz,
    destroyed_reason text
);
ALTER TABLE person_keys ADD COLUMN IF NOT EXISTS master_key_id text;
CREATE INDEX IF NOT EXISTS person_keys_by_master_key ON person_keys (master_key_id)
    WHERE wrapped IS NOT NULL;
"""
"""The table of people's wrapped data keys. A table made before master keys had ids
gains the column in place; its rows (all wrapped by the one key there was) are given
that key's id by `label_legacy_rows`."""


def label_legacy_rows(conn: psycopg.Connection[Any], legacy_id: str) -> int:
    """Rows wrapped before keys had ids were wrapped by the site's one key file: name it."""
    cursor = conn.execute(
        "UPDATE person_keys SET master_key_id = %s "
        "WHERE master_key_id IS NULL AND wrapped IS NOT NULL",
        (legacy_id,),
    )
    return cursor.rowcount


class PostgresKeyStore:
    """Data keys wrapped by the site's master keys, in the table `person_keys`, each
    row naming the master key that wrapped it; never cached, so a key destroyed by one
    process is gone for every process at once."""

    def __init__(self, dsn: str, master: MasterKeys) -> None:
        self.dsn = dsn
        self.master = master
        self._local = threading.local()

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(self.dsn, autocommit=True)
            self._local.conn = conn
        return conn

    @overload
    def _execute(self, query: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None: ...
    @overload
    def _execute(
        self, query: str, params: tuple[Any, ...], *, every: Literal[True]
    ) -> list[tuple[Any, ...]]: ...
    def _execute(self, query: str, params: tuple[Any, ...], *, every: bool = False) -> Any:
        """One statement, its first row (`every`: all its rows). Every statement here may
        run twice, so one on a connection PostgreSQL has closed (a restart, a failover)
        runs again on a new one."""
        try:
            cursor = self._conn().execute(query, params)
        except psycopg.OperationalError:
            conn = getattr(self._local, "conn", None)
            if conn is None or not conn.broken:
                raise
            conn.close()
            cursor = self._conn().execute(query, params)
        return cursor.fetchall() if every else cursor.fetchone()

    def _wrap(self, person_id: UUID) -> tuple[str, bytes]:
        """A new data key for the person, wrapped by the current master key."""
        key_id = self.master.current_id()
        return key_id, self.master.wrap(
            key_id, AESGCM.generate_key(bit_length=256), person_id.bytes
        )

    def _unwrap(self, person_id: UUID, wrapped: bytes, key_id: str | None) -> bytes:
        if key_id is None:  # wrapped before keys had ids
            return unwrap_any(self.master, wrapped, person_id.bytes)[1]
        return self.master.unwrap(key_id, wrapped, person_id.bytes)

    def _open_row(self, person_id: UUID, row: tuple[Any, ...] | None) -> bytes | None:
        """The data key of a (wrapped, master_key_id) row. A row read just before a
        rotation rewrapped it, whose old master key was retired since, is read again."""
        if row is None or row[0] is None:
            return None
        try:
            return self._unwrap(person_id, bytes(row[0]), row[1])
        except UnknownMasterKeyError:
            again = self._execute(
                "SELECT wrapped, master_key_id FROM person_keys WHERE person_id = %s",
                (person_id,),
            )
            if again is None or again[0] is None:
                return None
            return self._unwrap(person_id, bytes(again[0]), again[1])

    def get(self, person_id: UUID) -> bytes | None:
        row = self._execute(
            "SELECT wrapped, master_key_id FROM person_keys WHERE person_id = %s", (person_id,)
        )
        return self._open_row(person_id, row)

    def get_or_create(self, person_id: UUID) -> bytes | None:
        key_id, wrapped = self._wrap(person_id)
        # One round trip: the new key, or (one already there, or destroyed) the stored one.
        row = self._execute(
            "WITH made AS (INSERT INTO person_keys (person_id, wrapped, master_key_id) "
            "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING wrapped, master_key_id) "
            "SELECT wrapped, master_key_id FROM made UNION ALL "
            "SELECT wrapped, master_key_id FROM person_keys WHERE person_id = %s LIMIT 1",
            (person_id, wrapped, key_id, person_id),
        )
        return self._open_row(person_id, row)

    def get_or_create_many(self, person_ids: Iterable[UUID]) -> dict[UUID, bytes | None]:
        """One round trip for everyone (in id order, as concurrent inserts must lock).
        Someone whose key another writer committed after the statement began is not in
        its answer; they are asked for again on their own."""
        ids = sorted(set(person_ids))
        key_id = self.master.current_id()
        made = [self.master.wrap(key_id, AESGCM.generate_key(bit_length=256), p.bytes) for p in ids]
        rows = self._execute(
            "WITH wanted AS "
            "(SELECT * FROM unnest(%s::uuid[], %s::bytea[]) AS w(person_id, wrapped)), "
            "made AS (INSERT INTO person_keys (person_id, wrapped, master_key_id) "
            "SELECT person_id, wrapped, %s FROM wanted ORDER BY person_id "
            "ON CONFLICT DO NOTHING RETURNING person_id, wrapped, master_key_id) "
            "SELECT person_id, wrapped, master_key_id FROM made UNION ALL "
            "SELECT person_id, k.wrapped, k.master_key_id "
            "FROM person_keys AS k JOIN wanted USING (person_id)",
            (ids, made, key_id),
            every=True,
        )
        found = {row[0]: (row[1], row[2]) for row in rows}
        keys: dict[UUID, bytes | None] = {}
        for p in ids:
            if p not in found:
                keys[p] = self.get_or_create(p)
            else:  # None: destroyed, the person was forgotten
                keys[p] = self._open_row(p, found[p])
        return keys

    def destroy(self, person_id: UUID, reason: str) -> bool:
        """Overwrite the wrapped key with NULL (the row stays, saying when and why); False
        if there was no key left (never made, or destroyed before: the first reason stays)."""
        found = self._execute(
            "UPDATE person_keys SET wrapped = NULL, "
            "destroyed_at = coalesce(destroyed_at, now()), "
            "destroyed_reason = coalesce(destroyed_reason, %s) "
            "WHERE person_id = %s AND wrapped IS NOT NULL RETURNING 1",
            (reason, person_id),
        )
        if found is None:  # no key (yet): make sure none is ever made
            self._execute(
                "INSERT INTO person_keys (person_id, wrapped, destroyed_at, destroyed_reason) "
                "VALUES (%s, NULL, now(), %s) ON CONFLICT DO NOTHING RETURNING 1",
                (person_id, reason),
            )
        return found is not None

    # -- master keys: counts and rotation (`lead keys`) --------------------------------
    def counts(self) -> KeyCounts:
        rows = self._execute(
            "SELECT master_key_id, wrapped IS NULL, count(*) FROM person_keys GROUP BY 1, 2",
            (),
            every=True,
        )
        wrapped: dict[str | None, int] = {}
        destroyed = 0
        for key_id, is_destroyed, n in rows:
            if is_destroyed:
                destroyed += n
            else:
                wrapped[key_id] = wrapped.get(key_id, 0) + n
        return KeyCounts(wrapped, destroyed)

    def wrapped_by(self, key_id: str) -> int:
        """Data keys still wrapped by this master key (or by no known one: unlabelled)."""
        row = self._execute(
            "SELECT count(*) FROM person_keys WHERE wrapped IS NOT NULL "
            "AND (master_key_id = %s OR master_key_id IS NULL)",
            (key_id,),
        )
        return int(row[0]) if row else 0

    def rewrap_batch(
        self, to_key_id: str, batch_size: int, conn: psycopg.Connection[Any] | None = None
    ) -> tuple[int, set[str]]:
        """Rewrap up to `batch_size` data keys not wrapped by `to_key_id`, in one
        transaction: the rows are locked (FOR UPDATE, others skipped and left to a later
        batch) so a concurrent `destroy` waits for this to commit and then destroys the
        rewrapped key, and one that came first is not brought back (the row is taken
        only while still wrapped, and replaced only if unchanged). The data keys stay
        what they were: everything sealed with them opens as before."""
        if conn is None:
            with psycopg.connect(self.dsn) as own:
                return self.rewrap_batch(to_key_id, batch_size, own)
        with conn.transaction():
            rows = conn.execute(
                "SELECT person_id, wrapped, master_key_id FROM person_keys "
                "WHERE wrapped IS NOT NULL AND master_key_id IS DISTINCT FROM %s "
                "ORDER BY person_id LIMIT %s FOR UPDATE SKIP LOCKED",
                (to_key_id, batch_size),
            ).fetchall()
            if not rows:
                return 0, set()
            people, old, new = [], [], []
            seen: set[str] = set()
            for person_id, wrapped, key_id in rows:
                data_key = self._unwrap(person_id, bytes(wrapped), key_id)
                people.append(person_id)
                old.append(bytes(wrapped))
                new.append(self.master.wrap(to_key_id, data_key, person_id.bytes))
                seen.add(key_id or UNLABELLED)
            done = conn.execute(
                "UPDATE person_keys AS k SET wrapped = r.new, master_key_id = %s "
                "FROM unnest(%s::uuid[], %s::bytea[], %s::bytea[]) AS r(person_id, old, new) "
                "WHERE k.person_id = r.person_id AND k.wrapped = r.old",
                (to_key_id, people, old, new),
            ).rowcount
            return done, seen

    def rewrap_all(
        self,
        to_key_id: str,
        *,
        batch_size: int = 500,
        progress: Callable[[int, int], None] | None = None,
        max_idle_passes: int = 600,
    ) -> Rewrapped:
        """Rewrap every data key onto `to_key_id`, batch by batch, until none is left
        under another master key: rows another process made under its old current key
        while this ran (it takes up the new one at its next wrap) are rewrapped too, and
        rows locked by a writer at the time are taken at a later pass."""
        total, passes, idle, seen = 0, 0, 0, set()
        with psycopg.connect(self.dsn) as conn:
            while True:
                passes += 1
                done, ids = self.rewrap_batch(to_key_id, batch_size, conn)
                total += done
                seen |= ids
                if done:
                    idle = 0
                    if progress is not None:
                        progress(total, total + self._left(to_key_id))
                    continue
                if self._left(to_key_id) == 0:
                    return Rewrapped(to_key_id, tuple(sorted(seen)), total, passes)
                idle += 1
                if idle >= max_idle_passes:
                    raise RuntimeError(
                        f"{self._left(to_key_id)} data keys are still not wrapped by "
                        f"{to_key_id}: their rows stayed locked for {idle * 0.05:.0f} s; "
                        "run `lead keys rotate --no-new-key` again"
                    )
                time.sleep(0.05)  # the rows left are locked by a writer for a moment

    def _left(self, to_key_id: str) -> int:
        row = self._execute(
            "SELECT count(*) FROM person_keys "
            "WHERE wrapped IS NOT NULL AND master_key_id IS DISTINCT FROM %s",
            (to_key_id,),
        )
        return int(row[0]) if row else 0

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
