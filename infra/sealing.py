"""Per-person envelope encryption of sensitive event fields, and forgetting by key destruction.

Each person has a data key (AES-256), kept only wrapped by the site's master key
(AES-256-GCM, the person id as associated data) in a `KeyStore`; a KMS can stand
behind the same interface. Before an event is stored, the values at its
`SENSITIVE` paths are encrypted together with the person's data key (AES-256-GCM,
the person id as associated data) into the event's `sealed` field, and replaced by
placeholders (`[sealed]` for text, nothing for lists and dates). The stored bytes,
the chain over them and the published CloudEvent carry only that ciphertext; the
application, holding the key store, opens it when it loads an event. Destroying a
person's key (forgetting them) leaves every copy unreadable, everywhere, at once,
without changing a stored byte.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, overload
from uuid import UUID

import orjson
import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aggregates.base import DomainError
from events.base import SEALED

VERSION = "v1"

PERSON_KEYS_DDL = """
CREATE TABLE IF NOT EXISTS person_keys (
    person_id uuid PRIMARY KEY,
    wrapped bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz,
    destroyed_reason text
)
"""


class KeyStore(Protocol):
    """Where people's data keys live; a KMS could implement the same three calls."""

    def get(self, person_id: UUID) -> bytes | None:
        """The person's data key, or None if they have none (or it was destroyed)."""

    def get_or_create(self, person_id: UUID) -> bytes | None:
        """The person's data key, made on first use; None if it was destroyed."""

    def get_or_create_many(self, person_ids: Iterable[UUID]) -> dict[UUID, bytes | None]:
        """`get_or_create` for several people at once."""

    def destroy(self, person_id: UUID, reason: str) -> bool:
        """Destroy the key for good; False if there was none left to destroy."""


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(blob[:12], blob[12:], aad)


def master_key(path: Path, *, create: bool) -> bytes:
    """The site's master key (32 bytes, base64 in a file); a development stack makes one."""
    if not path.exists():
        if not create:
            raise FileNotFoundError(
                f"no master key at {path}: set LEAD_MASTER_KEY_FILE to the site's key"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(base64.b64encode(AESGCM.generate_key(bit_length=256)).decode() + "\n")
    key = base64.b64decode(path.read_text().strip())
    if len(key) != 32:
        raise ValueError(f"{path}: a master key is 32 bytes, base64-encoded")
    return key


class PostgresKeyStore:
    """Data keys wrapped by the master key, in the table `person_keys`; never cached,
    so a key destroyed by one process is gone for every process at once."""

    def __init__(self, dsn: str, master: bytes) -> None:
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

    def _unwrap(self, person_id: UUID, wrapped: bytes) -> bytes:
        return _decrypt(self.master, wrapped, person_id.bytes)

    def get(self, person_id: UUID) -> bytes | None:
        row = self._execute("SELECT wrapped FROM person_keys WHERE person_id = %s", (person_id,))
        if row is None or row[0] is None:
            return None
        return self._unwrap(person_id, bytes(row[0]))

    def get_or_create(self, person_id: UUID) -> bytes | None:
        wrapped = _encrypt(self.master, AESGCM.generate_key(bit_length=256), person_id.bytes)
        # One round trip: the new key, or (one already there, or destroyed) the stored one.
        row = self._execute(
            "WITH made AS (INSERT INTO person_keys (person_id, wrapped) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING RETURNING wrapped) "
            "SELECT wrapped FROM made UNION ALL "
            "SELECT wrapped FROM person_keys WHERE person_id = %s LIMIT 1",
            (person_id, wrapped, person_id),
        )
        if row is None or row[0] is None:
            return None
        return self._unwrap(person_id, bytes(row[0]))

    def get_or_create_many(self, person_ids: Iterable[UUID]) -> dict[UUID, bytes | None]:
        """One round trip for everyone (in id order, as concurrent inserts must lock).
        Someone whose key another writer committed after the statement began is not in
        its answer; they are asked for again on their own."""
        ids = sorted(set(person_ids))
        made = [_encrypt(self.master, AESGCM.generate_key(bit_length=256), p.bytes) for p in ids]
        rows = self._execute(
            "WITH wanted AS "
            "(SELECT * FROM unnest(%s::uuid[], %s::bytea[]) AS w(person_id, wrapped)), "
            "made AS (INSERT INTO person_keys (person_id, wrapped) "
            "SELECT person_id, wrapped FROM wanted ORDER BY person_id "
            "ON CONFLICT DO NOTHING RETURNING person_id, wrapped) "
            "SELECT person_id, wrapped FROM made UNION ALL "
            "SELECT person_id, k.wrapped FROM person_keys AS k JOIN wanted USING (person_id)",
            (ids, made),
            every=True,
        )
        found = {row[0]: row[1] for row in rows}
        keys: dict[UUID, bytes | None] = {}
        for p in ids:
            if p not in found:
                keys[p] = self.get_or_create(p)
            elif found[p] is None:
                keys[p] = None  # destroyed: the person was forgotten
            else:
                keys[p] = self._unwrap(p, bytes(found[p]))
        return keys

    def destroy(self, person_id: UUID, reason: str) -> bool:
        """Overwrite the wrapped key with NULL (the row stays, saying when and why)."""
        found = self._execute(
            "UPDATE person_keys SET wrapped = NULL, "
            "destroyed_at = coalesce(destroyed_at, now()), "
            "destroyed_reason = coalesce(destroyed_reason, %s) "
            "WHERE person_id = %s RETURNING 1",
            (reason, person_id),
        )
        if found is None:  # no key yet: make sure none is ever made
            self._execute(
                "INSERT INTO person_keys (person_id, wrapped, destroyed_at, destroyed_reason) "
                "VALUES (%s, NULL, now(), %s) ON CONFLICT DO NOTHING RETURNING 1",
                (person_id, reason),
            )
        return True

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()


class MemoryKeyStore:
    """For unit tests."""

    def __init__(self) -> None:
        self.keys: dict[UUID, bytes | None] = {}

    def get(self, person_id: UUID) -> bytes | None:
        return self.keys.get(person_id)

    def get_or_create(self, person_id: UUID) -> bytes | None:
        if person_id not in self.keys:
            self.keys[person_id] = AESGCM.generate_key(bit_length=256)
        return self.keys[person_id]

    def get_or_create_many(self, person_ids: Iterable[UUID]) -> dict[UUID, bytes | None]:
        return {p: self.get_or_create(p) for p in person_ids}

    def destroy(self, person_id: UUID, reason: str) -> bool:
        had = self.keys.get(person_id) is not None
        self.keys[person_id] = None
        return had


def _placeholder(leaf: str, value: Any) -> Any:
    """What stands in the sealed value's place: valid for its field, and telling nothing."""
    if isinstance(value, list):
        return []
    if leaf.endswith(("date", "_on", "_at")) or not isinstance(value, str):
        return None  # dates and times (their fields are optional)
    return SEALED


def _get(state: Mapping[str, Any], path: str) -> tuple[Mapping[str, Any] | None, str]:
    *parents, leaf = path.split(".")
    node: Any = state
    for part in parents:
        node = node.get(part) if isinstance(node, Mapping) else None
    return (node if isinstance(node, Mapping) else None), leaf


class PersonSealer:
    """Seals an event's sensitive fields with its person's key, and opens them again."""

    NEW_PEOPLE_AHEAD = 64  # ids (with their keys) made in one round trip, see new_person

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys
        self._ready = threading.local()  # keys fetched ahead, see `ready`
        # Ids for people not yet recorded, each with the key already made for it, and
        # the keys of those handed out but not yet used to seal.
        self._ahead: list[tuple[UUID, bytes | None]] = []
        self._handed: OrderedDict[UUID, bytes | None] = OrderedDict()
        self._lock = threading.Lock()

    def new_person(self) -> UUID:
        """An id for a person about to be recorded for the first time, whose key is
        already made: keys are made for `NEW_PEOPLE_AHEAD` new ids in one round trip, so
        a referral about someone new does not wait for one of its own. The key is held
        until the first event about them is sealed (nobody else knows the id until then),
        then asked for like any other. A process that stops leaves the keys of the ids
        it did not hand out: keys of nobody."""
        with self._lock:
            if not self._ahead:
                made = self.keys.get_or_create_many(
                    uuid.uuid4() for _ in range(self.NEW_PEOPLE_AHEAD)
                )
                self._ahead = list(made.items())
            person_id, key = self._ahead.pop()
            self._handed[person_id] = key
            if len(self._handed) > self.NEW_PEOPLE_AHEAD:  # ids handed out and never used
                self._handed.popitem(last=False)  # (their key is asked for, if ever)
            return person_id

    @contextlib.contextmanager
    def ready(self, person_ids: Iterable[UUID]) -> Iterator[None]:
        """Within it (on this thread), sealing for these people takes their keys as
        fetched on entry, in one round trip for all of them, instead of one each."""
        self._ready.keys = self.keys.get_or_create_many(person_ids)
        try:
            yield
        finally:
            self._ready.keys = None

    def _key(self, person_id: UUID) -> bytes | None:
        ready: dict[UUID, bytes | None] | None = getattr(self._ready, "keys", None)
        if ready is not None and person_id in ready:
            return ready[person_id]
        if self._handed:
            with self._lock:
                if person_id in self._handed:
                    return self._handed.pop(person_id)
        return self.keys.get_or_create(person_id)

    def seal(self, paths: tuple[str, ...], state: dict[str, Any]) -> dict[str, Any]:
        person = state.get("person_id")
        if not paths or person is None or state.get("sealed"):
            return state
        values: dict[str, Any] = {}
        for path in paths:
            parent, leaf = _get(state, path)
            if parent is not None and leaf in parent and parent[leaf] not in (None, [], ""):
                values[path] = parent[leaf]
                parent[leaf] = _placeholder(leaf, parent[leaf])  # type: ignore[index]
        if not values:
            return state
        person_id = UUID(str(person))
        key = self._key(person_id)
        if key is None:
            raise PersonForgottenError(
                f"person {person_id} was forgotten: nothing new about them can be recorded"
            )
        blob = _encrypt(key, orjson.dumps(values), person_id.bytes)
        state["sealed"] = f"{VERSION}.{base64.urlsafe_b64encode(blob).decode()}"
        return state

    def open(self, state: dict[str, Any]) -> dict[str, Any]:
        """Put the sensitive values back; placeholders stay if the key is gone."""
        token = state.get("sealed")
        person = state.get("person_id")
        if not token or person is None:
            return state
        person_id = UUID(str(person))
        key = self.keys.get(person_id)
        if key is None:
            return state
        version, _, encoded = str(token).partition(".")
        if version != VERSION:
            raise ValueError(f"unknown sealing version {version!r}")
        try:
            values = orjson.loads(_decrypt(key, base64.urlsafe_b64decode(encoded), person_id.bytes))
        except InvalidTag:
            raise ValueError(f"sealed fields of person {person_id} fail authentication") from None
        for path, value in values.items():
            parent, leaf = _get(state, path)
            if parent is not None:
                parent[leaf] = value  # type: ignore[index]
        state["sealed"] = None
        return state


class PersonForgottenError(DomainError):
    """Something new was to be recorded about a person whose key was destroyed."""
