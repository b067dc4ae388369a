"""Per-person envelope encryption of sensitive event fields, and forgetting by key destruction.

Each person has a data key (AES-256), kept only wrapped by one of the site's master
keys (AES-256-GCM, the person id as associated data; `infra.crypto.master_keys`, a ring a KMS
can stand behind) in a `KeyStore` (`infra.postgres.key_store` in production), beside
the id of the master key that wrapped it.
Before an event is stored, the values at its `SENSITIVE` paths are encrypted
together with the person's data key (AES-256-GCM, the person id as associated data)
into the event's `sealed` field, and replaced by placeholders (`[sealed]` for text,
nothing for lists and dates). The stored bytes, the chain over them and the published
CloudEvent carry only that ciphertext; the application, holding the key store, opens
it when it loads an event. Destroying a person's key (forgetting them) leaves every
copy unreadable, everywhere, at once, without changing a stored byte.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aggregates.base import DomainError
from events.base import SEALED
from infra.crypto.master_keys import MasterKeys, unwrap_any

VERSION = "v1"


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


@dataclass(frozen=True)
class KeyCounts:
    """How many data keys each master key wraps, and how many were destroyed."""

    wrapped: dict[str | None, int]  # None: wrapped before keys had ids
    destroyed: int

    def under(self, key_id: str | None) -> int:
        return self.wrapped.get(key_id, 0)


@dataclass(frozen=True)
class Rewrapped:
    to_key_id: str
    from_key_ids: tuple[str, ...]  # "unlabelled" for rows from before keys had ids
    count: int
    passes: int


UNLABELLED = "unlabelled"  # data keys wrapped before master keys had ids


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


class WrappedMemoryKeyStore:
    """For unit tests: `PostgresKeyStore`'s wrapping and rotation, in memory."""

    def __init__(self, master: MasterKeys) -> None:
        self.master = master
        self.rows: dict[UUID, tuple[bytes | None, str | None]] = {}

    def get(self, person_id: UUID) -> bytes | None:
        wrapped, key_id = self.rows.get(person_id, (None, None))
        if wrapped is None:
            return None
        if key_id is None:
            return unwrap_any(self.master, wrapped, person_id.bytes)[1]
        return self.master.unwrap(key_id, wrapped, person_id.bytes)

    def get_or_create(self, person_id: UUID) -> bytes | None:
        if person_id not in self.rows:
            key_id = self.master.current_id()
            data_key = AESGCM.generate_key(bit_length=256)
            self.rows[person_id] = (self.master.wrap(key_id, data_key, person_id.bytes), key_id)
        return self.get(person_id)

    def get_or_create_many(self, person_ids: Iterable[UUID]) -> dict[UUID, bytes | None]:
        return {p: self.get_or_create(p) for p in person_ids}

    def destroy(self, person_id: UUID, reason: str) -> bool:
        had = self.rows.get(person_id, (None, None))[0] is not None
        self.rows[person_id] = (None, None)
        return had

    def counts(self) -> KeyCounts:
        wrapped: dict[str | None, int] = {}
        for blob, key_id in self.rows.values():
            if blob is not None:
                wrapped[key_id] = wrapped.get(key_id, 0) + 1
        return KeyCounts(wrapped, sum(1 for blob, _ in self.rows.values() if blob is None))

    def wrapped_by(self, key_id: str) -> int:
        return sum(1 for b, k in self.rows.values() if b is not None and k in (key_id, None))

    def rewrap_all(
        self,
        to_key_id: str,
        *,
        batch_size: int = 500,
        progress: Callable[[int, int], None] | None = None,
    ) -> Rewrapped:
        seen: set[str] = set()
        count = 0
        for person_id, (blob, key_id) in list(self.rows.items()):
            if blob is None or key_id == to_key_id:
                continue
            data_key = self.get(person_id)
            assert data_key is not None
            self.rows[person_id] = (
                self.master.wrap(to_key_id, data_key, person_id.bytes),
                to_key_id,
            )
            seen.add(key_id or UNLABELLED)
            count += 1
        return Rewrapped(to_key_id, tuple(sorted(seen)), count, 1)


def _placeholder(leaf: str, value: Any) -> Any:
    """What stands in the sealed value's place: valid for its field, and telling nothing."""
    if isinstance(value, list):
        return []
    if leaf.endswith(("date", "_on", "_at")) or not isinstance(value, str):
        return None  # dates and times (their fields are optional)
    return SEALED


def _get(state: Mapping[str, Any], path: str) -> tuple[Mapping[str, Any] | None, str]:
    """The mapping holding `path`'s last part, and that part; a digit part indexes a list
    (`charges.0.description`)."""
    *parents, leaf = path.split(".")
    node: Any = state
    for part in parents:
        if isinstance(node, list) and part.isdigit():
            node = node[int(part)] if int(part) < len(node) else None
        else:
            node = node.get(part) if isinstance(node, Mapping) else None
    return (node if isinstance(node, Mapping) else None), leaf


def concrete_paths(state: Mapping[str, Any], path: str) -> list[str]:
    """`path` with each `*` (every item of a list) spelt out against `state`:
    `charges.*.description` is `charges.0.description`, `charges.1.description`, ..."""
    head, star, rest = path.partition(".*.")
    if not star:
        return [path]
    parent, leaf = _get(state, head)
    items = parent.get(leaf) if parent is not None else None
    if not isinstance(items, list):
        return []
    return [p for i in range(len(items)) for p in concrete_paths(state, f"{head}.{i}.{rest}")]


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
        for path in (p for wanted in paths for p in concrete_paths(state, wanted)):
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
