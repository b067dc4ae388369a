"""People's data keys in PostgreSQL: made once, the same key after, never again once destroyed."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from infra.postgres.key_store import PostgresKeyStore
from services.bootstrap import Container
from services.commands import ReceiveReferral
from tests.factories import OFFICER, referral_body

pytestmark = pytest.mark.integration


def test_a_key_is_made_once_and_never_remade_after_it_is_destroyed(container: Container) -> None:
    keys = container.keys
    assert isinstance(keys, PostgresKeyStore)
    person = uuid.uuid4()
    assert keys.get(person) is None
    made = keys.get_or_create(person)
    assert made is not None and len(made) == 32
    assert keys.get_or_create(person) == made == keys.get(person)
    keys.destroy(person, "forgotten on request")
    assert keys.get_or_create(person) is None  # a forgotten person gets no new key
    assert keys.get(person) is None
    never = uuid.uuid4()
    keys.destroy(never, "forgotten before any key was made")
    assert keys.get_or_create(never) is None


def test_commands_go_on_after_postgresql_closed_the_key_stores_connection(
    container: Container,
) -> None:
    """A restart or failover closes every connection: the next referral still seals its
    names with a key (the key store reconnects), instead of failing once per thread."""
    app = container.application
    app.receive_referral(ReceiveReferral.model_validate(referral_body()), OFFICER)
    keys = app.mapper.sealer.keys  # type: ignore[attr-defined]
    row = keys._execute("SELECT pg_backend_pid()", ())
    assert row is not None
    with psycopg.connect(container.settings.dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (row[0],))
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (row[0],)).fetchone():
            assert time.monotonic() < deadline, "the backend did not end"
            time.sleep(0.05)
    receipt = app.receive_referral(ReceiveReferral.model_validate(referral_body()), OFFICER)
    assert receipt.person_id is not None
    assert keys.get(receipt.person_id) is not None


def test_several_peoples_keys_at_once_are_each_ones_own_key_made_once(container: Container) -> None:
    keys = container.keys
    known, forgotten, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    known_key = keys.get_or_create(known)
    keys.destroy(forgotten, "erasure request")
    found = keys.get_or_create_many([new, known, forgotten, new])
    assert found == {known: known_key, forgotten: None, new: keys.get(new)}
    assert found[new] is not None and found[new] != known_key
    assert keys.get_or_create_many([new]) == {new: found[new]}  # made once
