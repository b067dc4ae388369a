"""People's data keys in PostgreSQL: made once, the same key after, never again once destroyed."""

from __future__ import annotations

import uuid

import pytest

from infra.bootstrap import Container
from infra.sealing import PostgresKeyStore

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
