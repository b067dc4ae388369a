"""Rotating the master key on the real PostgreSQL while people keep being recorded.

The writer thread is another process in all but name: its own Container, so its own
key ring read from the same key folder, and its own connections. It keeps recording
new people (each a new data key) and forgetting some while the rotation runs.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from events.base import SEALED
from events.privacy import ErasureGround
from events.referral import ReferralReceived
from infra.crypto.master_keys import FileKeyRing, encode_key, fingerprint, new_key
from infra.postgres.key_store import PERSON_KEYS_DDL, label_legacy_rows
from infra.settings import Settings
from services.bootstrap import Container
from services.commands import ReceiveReferral
from services.keys import MasterKeyAdmin, MasterKeyInUseError
from services.privacy import Privacy
from tests.factories import OFFICER, referral_body
from tests.scenario import ADMIN

pytestmark = pytest.mark.integration


def received_people(container: Container) -> dict[UUID, str | None]:
    """Every referral's person in the store, with the given name as it opens (None:
    still sealed, i.e. the person was forgotten)."""
    app = Container(container.settings).application  # a fresh process's view
    found: dict[UUID, str | None] = {}
    try:
        start = 1
        while batch := app.recorder.select_notifications(start=start, limit=1000):
            for notification in batch:
                event = app.mapper.to_domain_event(notification)
                if isinstance(event, ReferralReceived) and event.person_id is not None:
                    assert event.person is not None
                    name = event.person.given_name
                    found[event.person_id] = None if name == SEALED else name
            start = batch[-1].id + 1
    finally:
        app.close()
    return found


class Writer(threading.Thread):
    """Records referrals of new people, and forgets every fifth, until told to stop."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.container = Container(settings)
        self.stop = threading.Event()
        self.recorded: dict[UUID, str] = {}
        self.forgotten: set[UUID] = set()
        self.error: BaseException | None = None

    def run(self) -> None:
        app = self.container.application
        privacy = Privacy(app, self.container.keys)
        n = 0
        try:
            while not self.stop.is_set() or n < 20:
                name = f"Writer{n}"
                body = referral_body(n=0)
                body["person"]["given_name"] = name
                receipt = app.receive_referral(ReceiveReferral.model_validate(body), OFFICER)
                assert receipt.person_id is not None
                self.recorded[receipt.person_id] = name
                if n % 5 == 4:
                    privacy.forget(
                        receipt.person_id,
                        actor=ADMIN,
                        reason="asked during a rotation",
                        ground=ErasureGround.REQUEST,
                    )
                    self.forgotten.add(receipt.person_id)
                n += 1
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            app.close()


def test_after_a_rotation_while_people_are_recorded_every_event_opens_and_the_old_key_retires(
    container: Container,
) -> None:
    ring = container.master_keys
    assert isinstance(ring, FileKeyRing)
    keys = container.keys
    old = ring.current_id()
    app = container.application
    before: dict[UUID, str] = {}
    for n in range(150):
        body = referral_body(n=n)
        body["person"]["given_name"] = f"Before{n}"
        receipt = app.receive_referral(ReceiveReferral.model_validate(body), OFFICER)
        assert receipt.person_id is not None
        before[receipt.person_id] = f"Before{n}"
    forgotten_before = next(iter(before))
    Privacy(app, keys).forget(
        forgotten_before, actor=ADMIN, reason="asked before", ground=ErasureGround.REQUEST
    )
    assert keys.counts().under(old) >= 150

    operator = Container(container.settings)  # `lead keys`, as its own process
    admin = MasterKeyAdmin(operator.application, operator.master_keys, operator.keys)
    writer = Writer(container.settings)
    writer.start()
    try:
        # First half of a rotation, cut short: a new current key, nothing rewrapped yet.
        half = operator.master_keys
        assert isinstance(half, FileKeyRing)
        new = half.add(new_key())
        half.make_current(new)
        with pytest.raises(MasterKeyInUseError, match="still wrapped by master key"):
            admin.retire(actor=ADMIN, key_id=old, reason="too soon")
        with pytest.raises(MasterKeyInUseError, match="is current"):
            admin.retire(actor=ADMIN, key_id=new, reason="never")
        # Finished, in small batches, while the writer goes on.
        while len(writer.recorded) < 3 and writer.is_alive():
            time.sleep(0.01)
        during = len(writer.recorded)
        done = admin.rotate(actor=ADMIN, new_key=None, batch_size=25, settle_seconds=0.5)
        assert len(writer.recorded) > during  # people were recorded while it ran
    finally:
        writer.stop.set()
        writer.join(120)
    assert writer.error is None, repr(writer.error)
    assert not writer.is_alive()
    assert done.to_key_id == new and old in done.from_key_ids
    assert done.rewrapped >= 150
    assert len(writer.recorded) >= 20

    # A writer that was still running may have made a key under the old one as the
    # current key changed (it takes the new one at its next wrap): one more pass.
    admin.rotate(actor=ADMIN, new_key=None, settle_seconds=0)
    counts = keys.counts()
    assert counts.under(old) == 0 and counts.under(None) == 0
    assert admin.status().wrapped.get(old, 0) == 0
    assert keys.wrapped_by(old) == 0

    admin.retire(actor=ADMIN, key_id=old, reason="rotated out")
    assert old not in operator.master_keys.ids()
    assert (
        old
        not in FileKeyRing(container.master_key_dir, container.master_key_path, create=False).ids()
    )

    # Every event opens (in a fresh process, holding only the new key), forgotten people
    # stay forgotten, and the session's own ring (loaded before) takes up the change.
    people = received_people(container)
    for person, name in {**before, **writer.recorded}.items():
        forgotten = person == forgotten_before or person in writer.forgotten
        assert people[person] == (None if forgotten else name), person
        assert (keys.get(person) is None) is forgotten
    for person in [forgotten_before, *writer.forgotten]:
        assert keys.get_or_create(person) is None  # no new key is ever made for them
    assert container.master_keys.current_id() == new

    # New people are wrapped by the new key, from every process.
    receipt = app.receive_referral(ReceiveReferral.model_validate(referral_body()), OFFICER)
    with psycopg.connect(container.settings.dsn) as conn:
        row = conn.execute(
            "SELECT master_key_id FROM person_keys WHERE person_id = %s", (receipt.person_id,)
        ).fetchone()
    assert row == (new,)

    # Nothing in the store changed: the chain verifies.
    finding, checked = container.history().verify_store(0, None)
    assert finding is None and checked > 0


def test_rows_from_before_key_ids_are_labelled_opened_and_rewrapped(
    container: Container,
) -> None:
    """The upgrade path: a row an older version wrote (no master key id) still opens,
    and a rotation moves it onto the current key."""
    keys = container.keys
    ring = container.master_keys
    person = uuid.uuid4()
    data_key = new_key()
    wrapped = ring.wrap(ring.current_id(), data_key, person.bytes)
    with psycopg.connect(container.settings.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO person_keys (person_id, wrapped) VALUES (%s, %s)", (person, wrapped)
        )
    assert keys.get(person) == data_key
    assert keys.counts().under(None) == 1
    # `prepare` names the key of such rows when the site's old single key file is there
    labelled = uuid.uuid4()
    with psycopg.connect(container.settings.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO person_keys (person_id, wrapped) VALUES (%s, %s)",
            (labelled, ring.wrap(ring.current_id(), data_key, labelled.bytes)),
        )
        with conn.transaction(force_rollback=True):
            assert label_legacy_rows(conn, ring.current_id()) == 2
            row = conn.execute(
                "SELECT master_key_id FROM person_keys WHERE person_id = %s", (labelled,)
            ).fetchone()
            assert row == (ring.current_id(),)
    operator = Container(container.settings)
    admin = MasterKeyAdmin(operator.application, operator.master_keys, operator.keys)
    done = admin.rotate(actor=ADMIN, new_key=None, settle_seconds=0)
    assert done.rewrapped == 2 and "unlabelled" in done.from_key_ids
    assert keys.counts().under(None) == 0
    assert keys.get(person) == data_key and keys.get(labelled) == data_key


OLD_PERSON_KEYS_DDL = """
CREATE TABLE person_keys (
    person_id uuid PRIMARY KEY,
    wrapped bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz,
    destroyed_reason text
)
"""  # as earlier versions made it


def test_an_existing_person_keys_table_is_upgraded_in_place_idempotently(
    container: Container, tmp_path: Path
) -> None:
    schema = f"upgrade_{uuid.uuid4().hex[:8]}"
    legacy = tmp_path / "master.key"
    key = new_key()
    legacy.write_text(encode_key(key) + "\n")
    ring = FileKeyRing(tmp_path / "master-keys", legacy, create=False)
    person, gone = uuid.uuid4(), uuid.uuid4()
    data_key = new_key()
    with psycopg.connect(container.settings.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(f"SET search_path TO {schema}")
            conn.execute(OLD_PERSON_KEYS_DDL)
            conn.execute(
                "INSERT INTO person_keys (person_id, wrapped) VALUES (%s, %s)",
                (person, ring.wrap(ring.current_id(), data_key, person.bytes)),
            )
            conn.execute(
                "INSERT INTO person_keys (person_id, wrapped, destroyed_at) "
                "VALUES (%s, NULL, now())",
                (gone,),
            )
            conn.execute(PERSON_KEYS_DDL)
            conn.execute(PERSON_KEYS_DDL)  # a second start changes nothing
            assert label_legacy_rows(conn, fingerprint(key)) == 1
            assert label_legacy_rows(conn, fingerprint(key)) == 0
            rows = conn.execute(
                "SELECT person_id, master_key_id FROM person_keys ORDER BY wrapped IS NULL"
            ).fetchall()
            assert rows == [(person, fingerprint(key)), (gone, None)]
            wrapped = conn.execute(
                "SELECT wrapped FROM person_keys WHERE person_id = %s", (person,)
            ).fetchone()
            assert wrapped is not None
            assert ring.unwrap(fingerprint(key), bytes(wrapped[0]), person.bytes) == data_key
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
