"""What every implementation of each store promises, as one test class per store, run
against each implementation: in memory (tests/unit/test_store_contracts.py) and on the
PostgreSQL the project starts (tests/integration/test_store_contracts.py). This is how
eventsourcing's own `tests/persistence.py` tests its recorders: the in-memory fakes the
unit tests lean on are held to the same behaviour as the adapters production runs.

A subclass says how to make a fresh store (`make`); the tests are inherited.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent

from infra.crypto.sealing import KeyStore
from infra.postgres.idempotency_store import Stored
from services.http.idempotency import IdempotencyStore


class MemoryIdempotencyStore:
    """Idempotency keys in a dict: the unit tests' stand-in for PostgresIdempotencyStore."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Stored] = {}

    def claim(
        self, caller: str, key: str, fingerprint: str, at: datetime | None = None
    ) -> Stored | None:
        if (caller, key) in self.rows:
            return self.rows[(caller, key)]
        self.rows[(caller, key)] = Stored(fingerprint, None, None, None, at or datetime.now(UTC))
        return None

    def complete(
        self, caller: str, key: str, status: int, content_type: str | None, body: bytes
    ) -> None:
        old = self.rows[(caller, key)]
        self.rows[(caller, key)] = Stored(
            old.fingerprint, status, content_type, body, old.claimed_at
        )

    def release(self, caller: str, key: str) -> None:
        self.rows.pop((caller, key), None)

    def purge(self, claimed_before: datetime) -> int:
        old = [k for k, row in self.rows.items() if row.claimed_at < claimed_before]
        for k in old:
            del self.rows[k]
        return len(old)


class KeyStoreContract:
    """People's data keys: made once, the same ever after, never again once destroyed."""

    def make(self) -> KeyStore:
        raise NotImplementedError

    def test_a_key_is_made_on_first_use_and_is_the_same_after(self) -> None:
        keys = self.make()
        person = uuid.uuid4()
        assert keys.get(person) is None
        made = keys.get_or_create(person)
        assert made is not None and len(made) == 32
        assert keys.get_or_create(person) == made == keys.get(person)

    def test_each_person_has_a_key_of_their_own(self) -> None:
        keys = self.make()
        made = {keys.get_or_create(uuid.uuid4()) for _ in range(5)}
        assert len(made) == 5 and None not in made

    def test_a_destroyed_key_is_gone_and_never_made_again(self) -> None:
        keys = self.make()
        person = uuid.uuid4()
        keys.get_or_create(person)
        assert keys.destroy(person, "erasure request") is True
        assert keys.get(person) is None
        assert keys.get_or_create(person) is None
        assert keys.destroy(person, "asked twice") is False

    def test_a_person_forgotten_before_any_key_never_gets_one(self) -> None:
        keys = self.make()
        never = uuid.uuid4()
        keys.destroy(never, "forgotten before any key was made")
        assert keys.get_or_create(never) is None

    def test_several_at_once_are_each_ones_own_key_made_once(self) -> None:
        keys = self.make()
        known, forgotten, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        known_key = keys.get_or_create(known)
        keys.destroy(forgotten, "erasure request")
        found = keys.get_or_create_many([new, known, forgotten, new])
        assert found == {known: known_key, forgotten: None, new: keys.get(new)}
        assert found[new] is not None and found[new] != known_key
        assert keys.get_or_create_many([new]) == {new: found[new]}


class IdempotencyStoreContract:
    """Idempotency-Key claims: one claim wins, its outcome is kept, a release frees it."""

    def make(self) -> IdempotencyStore:
        raise NotImplementedError

    def caller(self) -> str:
        return f"caller-{uuid.uuid4().hex}"

    def test_the_first_claim_wins_and_a_second_sees_it_running(self) -> None:
        store, caller = self.make(), self.caller()
        assert store.claim(caller, "k1", "fp-a") is None
        running = store.claim(caller, "k1", "fp-b")
        assert running is not None
        assert (running.fingerprint, running.status, running.body) == ("fp-a", None, None)

    def test_a_completed_claim_answers_with_its_outcome(self) -> None:
        store, caller = self.make(), self.caller()
        store.claim(caller, "k1", "fp")
        store.complete(caller, "k1", 201, "application/json", b'{"id": 1}')
        done = store.claim(caller, "k1", "fp")
        assert done is not None
        assert (done.status, done.content_type, done.body) == (
            201,
            "application/json",
            b'{"id": 1}',
        )

    def test_a_released_key_can_be_claimed_again(self) -> None:
        store, caller = self.make(), self.caller()
        store.claim(caller, "k1", "fp")
        store.release(caller, "k1")
        assert store.claim(caller, "k1", "fp") is None

    def test_keys_belong_to_their_caller(self) -> None:
        store, one, other = self.make(), self.caller(), self.caller()
        assert store.claim(one, "same", "fp") is None
        assert store.claim(other, "same", "fp") is None

    def test_a_claim_keeps_the_time_it_was_made(self) -> None:
        store, caller = self.make(), self.caller()
        at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        store.claim(caller, "k1", "fp", at)
        again = store.claim(caller, "k1", "fp")
        assert again is not None and again.claimed_at == at

    def test_a_purge_forgets_the_keys_claimed_before_its_cutoff_and_keeps_the_rest(self) -> None:
        store, caller = self.make(), self.caller()
        old, cutoff = datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 8, tzinfo=UTC)
        store.claim(caller, "answered", "fp", old)
        store.complete(caller, "answered", 201, "application/json", b"{}")
        store.claim(caller, "running", "fp", old)
        store.claim(caller, "recent", "fp", cutoff + timedelta(seconds=1))
        assert store.purge(cutoff) >= 2  # others' keys of 2000 too, in a shared store
        assert store.claim(caller, "answered", "fp-new") is None  # a new request now
        assert store.claim(caller, "running", "fp-new") is None
        kept = store.claim(caller, "recent", "fp")
        assert kept is not None and kept.fingerprint == "fp"
        assert store.purge(cutoff) == 0


def stored(originator: uuid.UUID, version: int, state: bytes = b"{}") -> StoredEvent:
    return StoredEvent(originator, version, "events.referral:Anything", state)


class EventRecorderContract:
    """The event store's recorder, as the application and the relay rely on it."""

    def make(self) -> ApplicationRecorder:
        raise NotImplementedError

    def test_what_is_appended_reads_back_in_version_order(self) -> None:
        recorder = self.make()
        one = uuid.uuid4()
        recorder.insert_events([stored(one, 1, b'{"a":1}'), stored(one, 2, b'{"a":2}')])
        back = recorder.select_events(one)
        assert [(e.originator_version, e.state) for e in back] == [(1, b'{"a":1}'), (2, b'{"a":2}')]
        assert [e.originator_version for e in recorder.select_events(one, gt=1)] == [2]

    def test_a_duplicate_version_is_refused_and_nothing_of_its_append_is_stored(self) -> None:
        recorder = self.make()
        existing, fresh = uuid.uuid4(), uuid.uuid4()
        recorder.insert_events([stored(existing, 1)])
        before = recorder.max_notification_id()
        with pytest.raises(IntegrityError):
            recorder.insert_events([stored(fresh, 1), stored(existing, 1)])
        assert recorder.max_notification_id() == before
        assert recorder.select_events(fresh) == []

    def test_notifications_come_in_append_order_with_rising_ids(self) -> None:
        recorder = self.make()
        start = (recorder.max_notification_id() or 0) + 1
        ids: list[Any] = []
        originators = [uuid.uuid4() for _ in range(4)]
        for originator in originators:
            ids.extend(recorder.insert_events([stored(originator, 1)]) or [])
        notes = recorder.select_notifications(start=start, limit=10)
        assert [n.originator_id for n in notes] == originators
        assert [n.id for n in notes] == sorted(n.id for n in notes)
        assert ids == [n.id for n in notes]
        assert recorder.max_notification_id() == notes[-1].id
