"""The master key ring: ids, the file and environment forms, rotation and retirement."""

from __future__ import annotations

import base64
import os
import stat
import uuid
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aggregates.key_ring import KeyRing, key_ring_id
from events.privacy import MasterKeyRetired, MasterKeyRotated
from events.referral import ReferralReceived
from infra.crypto.master_keys import (
    EnvKeyRing,
    FileKeyRing,
    KeyRingError,
    MemoryKeyRing,
    UnknownMasterKeyError,
    encode_key,
    fingerprint,
    key_ring,
    new_key,
    unwrap_any,
)
from infra.crypto.sealing import PersonSealer, WrappedMemoryKeyStore
from services.application import LeadApplication
from services.commands import AdoptPolicy, ReceiveReferral
from services.errors import DomainError
from services.keys import MasterKeyAdmin, MasterKeyInUseError
from tests.factories import OFFICER, POLICY_TERMS, referral_body
from tests.scenario import ADMIN
from tests.unit.test_api_validation import IN_MEMORY

AAD = uuid.uuid4().bytes


def legacy_file(tmp_path: Path) -> tuple[Path, bytes]:
    key = new_key()
    path = tmp_path / "master.key"
    path.write_text(encode_key(key) + "\n")
    return path, key


def test_a_key_id_is_a_fingerprint_that_names_the_key_and_reveals_nothing() -> None:
    key = new_key()
    assert fingerprint(key) == fingerprint(key) != fingerprint(new_key())
    assert fingerprint(key).startswith("mk-") and len(fingerprint(key)) == 19
    assert base64.b64encode(key).decode()[:8] not in fingerprint(key)


def test_a_fresh_file_ring_makes_one_key_readable_by_its_owner_only(tmp_path: Path) -> None:
    ring = FileKeyRing(tmp_path / "ring", tmp_path / "master.key", create=True)
    (current,) = ring.ids()
    assert ring.current_id() == current
    key_file = tmp_path / "ring" / f"{current}.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (tmp_path / "ring" / "current").read_text().strip() == current
    assert not (tmp_path / "master.key").exists()  # the old single file is not made
    wrapped = ring.wrap(current, b"k" * 32, AAD)
    again = FileKeyRing(tmp_path / "ring", tmp_path / "master.key", create=False)
    assert again.unwrap(current, wrapped, AAD) == b"k" * 32


def test_without_create_a_missing_ring_is_an_error_naming_the_settings(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="LEAD_MASTER_KEY_DIR"):
        FileKeyRing(tmp_path / "ring", tmp_path / "master.key", create=False)


def test_an_existing_single_key_file_is_the_current_key_under_its_fingerprint(
    tmp_path: Path,
) -> None:
    """The upgrade path: a site's master.key keeps working, as key mk-<fingerprint>."""
    path, key = legacy_file(tmp_path)
    ring = FileKeyRing(tmp_path / "ring", path, create=True)
    assert ring.ids() == (fingerprint(key),) and ring.current_id() == fingerprint(key)
    assert not (tmp_path / "ring").exists()  # nothing new is made beside it
    # what it wrapped before keys had ids (the same AES-GCM layout) still opens
    nonce = os.urandom(12)
    old = nonce + AESGCM(key).encrypt(nonce, b"d" * 32, AAD)
    assert ring.unwrap(fingerprint(key), old, AAD) == b"d" * 32
    assert unwrap_any(ring, old, AAD) == (fingerprint(key), b"d" * 32)


def test_a_rotation_in_another_process_is_taken_up_at_the_next_wrap(tmp_path: Path) -> None:
    path, key = legacy_file(tmp_path)
    running = FileKeyRing(tmp_path / "ring", path, create=False)  # say, the API
    operator = FileKeyRing(tmp_path / "ring", path, create=False)  # `lead keys rotate`
    new = operator.add(new_key())
    assert running.current_id() == fingerprint(key)  # added, not current yet
    wrapped_new = operator.wrap(new, b"n" * 32, AAD)
    assert running.unwrap(new, wrapped_new, AAD) == b"n" * 32  # unknown id: reloads
    operator.make_current(new)
    assert running.current_id() == new
    assert set(running.ids()) == {fingerprint(key), new}


def test_retiring_removes_the_key_material_and_never_the_current_key(tmp_path: Path) -> None:
    path, _ = legacy_file(tmp_path)
    ring = FileKeyRing(tmp_path / "ring", path, create=False)
    old = ring.current_id()
    with pytest.raises(KeyRingError, match="current"):
        ring.remove(old)
    ring.make_current(ring.add(new_key()))
    wrapped = FileKeyRing(tmp_path / "ring", path, create=False).wrap(old, b"o" * 32, AAD)
    ring.remove(old)
    assert not path.exists()  # the legacy file is gone too
    assert old not in ring.ids()
    with pytest.raises(UnknownMasterKeyError, match="not in the key ring"):
        ring.unwrap(old, wrapped, AAD)
    assert FileKeyRing(tmp_path / "ring", path, create=False).ids() == (ring.current_id(),)


def test_a_key_file_whose_name_is_not_its_fingerprint_is_refused(tmp_path: Path) -> None:
    ring = FileKeyRing(tmp_path / "ring", None, create=True)
    (tmp_path / "ring" / "mk-0000000000000000.key").write_text(encode_key(new_key()))
    with pytest.raises(KeyRingError, match="not mk-0000000000000000"):
        ring.reload()


def test_a_key_that_is_not_32_bytes_of_base64_is_refused(tmp_path: Path) -> None:
    (tmp_path / "master.key").write_text("not base64!")
    with pytest.raises(KeyRingError, match="32 bytes, base64"):
        FileKeyRing(tmp_path / "ring", tmp_path / "master.key", create=True)
    with pytest.raises(KeyRingError, match="entry 1: a master key is 32 bytes"):
        EnvKeyRing("a:" + encode_key(b"short"))


def test_the_environment_ring_names_its_keys_and_the_current_one() -> None:
    a, b = new_key(), new_key()
    ring = EnvKeyRing(f"old:{encode_key(a)}, {encode_key(b)}")
    assert ring.current_id() == "old"  # the first, unless named
    assert set(ring.ids()) == {"old", fingerprint(b)}
    named = EnvKeyRing(f"old:{encode_key(a)},new:{encode_key(b)}", "new")
    assert named.current_id() == "new"
    wrapped = named.wrap("old", b"x" * 32, AAD)
    assert ring.unwrap("old", wrapped, AAD) == b"x" * 32
    with pytest.raises(InvalidTag):
        named.unwrap("new", wrapped, AAD)  # a wrong key fails, never a wrong data key
    with pytest.raises(KeyRingError, match="not in the key ring"):
        EnvKeyRing(f"old:{encode_key(a)}", "new")
    with pytest.raises(KeyRingError, match="given twice"):
        EnvKeyRing(f"x:{encode_key(a)},x:{encode_key(b)}")
    with pytest.raises(KeyRingError, match="holds no key"):
        EnvKeyRing(" , ")
    with pytest.raises(KeyRingError, match="letters, digits"):
        EnvKeyRing(f"bad id:{encode_key(a)}")


def test_the_settings_choose_the_environment_ring_over_the_files(tmp_path: Path) -> None:
    env = key_ring(
        env_keys=f"e1:{encode_key(new_key())}",
        env_current=None,
        directory=tmp_path / "ring",
        legacy_file=None,
        create=True,
    )
    assert isinstance(env, EnvKeyRing) and not (tmp_path / "ring").exists()
    files = key_ring(
        env_keys=None, env_current=None, directory=tmp_path / "ring", legacy_file=None, create=True
    )
    assert isinstance(files, FileKeyRing)
    with pytest.raises(KeyRingError, match="LEAD_MASTER_KEY_ID"):
        key_ring(
            env_keys=None,
            env_current="other",
            directory=tmp_path / "ring",
            legacy_file=None,
            create=False,
        )


def opened_names(app: LeadApplication) -> list[str]:
    """Every received referral's given name, as the application opens it from the store."""
    names = []
    for notification in app.recorder.select_notifications(start=1, limit=1000):
        event = app.mapper.to_domain_event(notification)
        if isinstance(event, ReferralReceived):
            assert event.person is not None
            names.append(event.person.given_name)
    return names


def site() -> tuple[LeadApplication, MemoryKeyRing, WrappedMemoryKeyStore, MasterKeyAdmin]:
    first = new_key()
    ring = MemoryKeyRing({fingerprint(first): first}, fingerprint(first))
    keys = WrappedMemoryKeyStore(ring)
    app = LeadApplication(env=IN_MEMORY, sealer=PersonSealer(keys))
    return app, ring, keys, MasterKeyAdmin(app, ring, keys)


def test_after_a_rotation_everything_sealed_before_opens_and_the_old_key_retires() -> None:
    app, ring, keys, admin = site()
    old = ring.current_id()
    app.adopt_policy(AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    for n in range(5):
        app.receive_referral(ReceiveReferral.model_validate(referral_body(n=n)), OFFICER)
    made = PersonSealer.NEW_PEOPLE_AHEAD  # keys are made ahead for new people
    assert keys.counts().wrapped == {old: made}
    with pytest.raises(MasterKeyInUseError, match="current"):
        admin.retire(actor=ADMIN, key_id=old, reason="too soon")
    done = admin.rotate(actor=ADMIN, new_key=new_key(), settle_seconds=0)
    assert done.rewrapped == made and done.from_key_ids == (old,) and done.position > 0
    assert done.to_key_id == ring.current_id() != old
    assert keys.counts().wrapped == {done.to_key_id: made}
    assert sorted(opened_names(app)) == [f"Person{n}" for n in range(5)]
    admin.retire(actor=ADMIN, key_id=old, reason="rotated out")
    assert ring.ids() == (done.to_key_id,)
    recorded = app._find(key_ring_id(app.site_id))
    assert isinstance(recorded, KeyRing)
    assert recorded.current_key_id == done.to_key_id and recorded.retired == {old}
    events = list(app.repository.event_store.get(key_ring_id(app.site_id)))
    rotated = next(e for e in events if isinstance(e, MasterKeyRotated))
    retired = next(e for e in events if isinstance(e, MasterKeyRetired))
    assert rotated.rewrapped == made and rotated.from_key_ids == [old]
    assert retired.key_id == old and retired.actor == ADMIN
    stored = b"".join(n.state for n in app.recorder.select_notifications(start=1, limit=1000))
    for key_id in (old, done.to_key_id):
        assert key_id.encode() in stored
    assert encode_key(ring.key(done.to_key_id)).encode() not in stored  # ids, no key


def test_a_key_still_wrapping_data_keys_is_not_retired() -> None:
    _, ring, keys, admin = site()
    old = ring.current_id()
    keys.get_or_create(uuid.uuid4())
    new = ring.add(new_key())
    ring.make_current(new)  # current, but nothing rewrapped yet
    with pytest.raises(MasterKeyInUseError, match="1 data keys are still wrapped"):
        admin.retire(actor=ADMIN, key_id=old, reason="too soon")
    assert old in ring.ids()
    done = admin.rotate(actor=ADMIN, new_key=None, settle_seconds=0)  # finish it
    assert done.rewrapped == 1 and done.from_key_ids == (old,)
    admin.retire(actor=ADMIN, key_id=old, reason="rotated out")
    with pytest.raises(DomainError, match="no master key"):
        admin.retire(actor=ADMIN, key_id=old, reason="twice")


def test_a_rotation_with_nothing_to_do_records_nothing_and_a_retired_key_never_returns() -> None:
    app, ring, _, admin = site()
    nothing = admin.rotate(actor=ADMIN, new_key=None, settle_seconds=0)
    assert nothing.position == 0 and nothing.rewrapped == 0
    assert app._find(key_ring_id(app.site_id)) is None
    first = ring.key(ring.current_id())
    old = ring.current_id()
    admin.rotate(actor=ADMIN, new_key=new_key(), settle_seconds=0)
    admin.retire(actor=ADMIN, key_id=old, reason="rotated out")
    with pytest.raises(DomainError, match="retired"):
        admin.rotate(actor=ADMIN, new_key=first, settle_seconds=0)
    assert old not in ring.ids()


def test_a_forgotten_person_stays_forgotten_through_a_rotation() -> None:
    _, _, keys, admin = site()
    person = uuid.uuid4()
    keys.get_or_create(person)
    keys.destroy(person, "asked to be forgotten")
    keys.get_or_create(uuid.uuid4())
    done = admin.rotate(actor=ADMIN, new_key=new_key(), settle_seconds=0)
    assert done.rewrapped == 1
    assert keys.get(person) is None and keys.get_or_create(person) is None
    assert keys.counts().destroyed == 1


def test_the_environment_ring_takes_no_new_key_from_the_command() -> None:
    a = new_key()
    ring = EnvKeyRing(f"a:{encode_key(a)}")
    app = LeadApplication(env=IN_MEMORY)
    admin = MasterKeyAdmin(app, ring, WrappedMemoryKeyStore(ring))
    with pytest.raises(DomainError, match="LEAD_MASTER_KEYS"):
        admin.rotate(actor=ADMIN, new_key=new_key(), settle_seconds=0)
    assert not admin.status().writable
