from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.audit.chain import GENESIS, Checkpoint, StoredEvent, check_signature, link, sign
from infra.audit.signing_keys import (
    generate_private_key_pem,
    load_private_key,
    load_public_key,
    public_key_pem,
)
from infra.audit.slices import verify_slice, write_slice
from infra.audit.verification import Finding, verify_chain, verify_sequence
from infra.postgres.chain_trigger import CHAIN_BACKFILL_SQL, CHAIN_LOCK_KEY, CHAIN_SQL

SITE = "king-county"
AT = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
KEY = load_private_key(generate_private_key_pem())
OTHER_KEY = Ed25519PrivateKey.generate()
ORIGINATOR = UUID("12345678-1234-5678-1234-567812345678")

events_st = st.builds(
    StoredEvent,
    position=st.integers(1, 2**63 - 1),
    originator_id=st.uuids(),
    originator_version=st.integers(1, 2**63 - 1),
    topic=st.text(max_size=40),
    state=st.binary(max_size=200),
)


def make_events(count: int, *, gaps: bool = False) -> list[StoredEvent]:
    """A small history: a few aggregates, versions counting up, positions increasing."""
    originators = [UUID(int=n + 1) for n in range(3)]
    versions = dict.fromkeys(originators, 0)
    events, position = [], 0
    for n in range(count):
        position += 1 + (n % 3 == 2 if gaps else 0)
        originator = originators[n % 3]
        versions[originator] += 1
        events.append(
            StoredEvent(
                position=position,
                originator_id=originator,
                originator_version=versions[originator],
                topic=f"events.case:Step{n % 4}",
                state=json.dumps({"n": n, "note": "x" * (n % 5)}).encode(),
            )
        )
    return events


def chain_of(events: list[StoredEvent], start: bytes = GENESIS) -> dict[int, bytes]:
    hashes, previous = {}, start
    for event in events:
        previous = hashes[event.position] = link(previous, event)
    return hashes


# --- link -------------------------------------------------------------------


def encode_by_hand(previous: bytes, e: StoredEvent) -> bytes:
    topic = e.topic.encode()
    return (
        previous
        + e.position.to_bytes(8, "big")
        + e.originator_id.bytes
        + e.originator_version.to_bytes(8, "big")
        + len(topic).to_bytes(4, "big")
        + topic
        + len(e.state).to_bytes(8, "big")
        + e.state
    )


def test_link_matches_the_documented_encoding_and_known_vectors() -> None:
    first = StoredEvent(1, ORIGINATOR, 1, "events.referral:ReferralReceived", b'{"a":1}')
    second = StoredEvent(2, ORIGINATOR, 2, "événement", b"")
    h1 = link(GENESIS, first)
    assert h1 == hashlib.sha256(encode_by_hand(GENESIS, first)).digest()
    # The same vectors the lead checks against event_chain_link() in PostgreSQL.
    assert h1.hex() == "a14e3ea845219b4035ca643bac682d7de1b7feda5dd2d504d16053c672cbab57"
    assert link(h1, second).hex() == (
        "7cc20f52a3cb777a59922e527bbad85fd219fbac7cfcc9f33929b6806bd9326e"
    )


@given(events_st, st.binary(min_size=32, max_size=32))
def test_link_is_deterministic_and_hashes_the_documented_bytes(
    event: StoredEvent, previous: bytes
) -> None:
    assert link(previous, event) == link(previous, replace(event))
    assert link(previous, event) == hashlib.sha256(encode_by_hand(previous, event)).digest()


@given(events_st, st.data())
def test_link_is_sensitive_to_each_field(event: StoredEvent, data: st.DataObject) -> None:
    base = link(GENESIS, event)
    changes: dict[str, Any] = {
        "position": data.draw(st.integers(1, 2**63 - 1).filter(lambda p: p != event.position)),
        "originator_id": data.draw(st.uuids().filter(lambda u: u != event.originator_id)),
        "originator_version": data.draw(
            st.integers(1, 2**63 - 1).filter(lambda v: v != event.originator_version)
        ),
        "topic": data.draw(st.text(max_size=40).filter(lambda t: t != event.topic)),
        "state": data.draw(st.binary(max_size=200).filter(lambda s: s != event.state)),
    }
    for field, value in changes.items():
        assert link(GENESIS, replace(event, **{field: value})) != base, field
    other_previous = data.draw(st.binary(min_size=32, max_size=32).filter(lambda b: b != GENESIS))
    assert link(other_previous, event) != base


def test_link_keeps_topic_and_state_apart() -> None:
    a = StoredEvent(1, ORIGINATOR, 1, "ab", b"c")
    b = StoredEvent(1, ORIGINATOR, 1, "a", b"bc")
    assert link(GENESIS, a) != link(GENESIS, b)


def test_link_refuses_a_previous_hash_of_the_wrong_size() -> None:
    with pytest.raises(ValueError):
        link(b"\x00" * 31, make_events(1)[0])


# --- the SQL ------------------------------------------------------------------


def _split_top_level(text: str, separator: str) -> list[str]:
    parts, depth, current, i = [], 0, "", 0
    while i < len(text):
        if depth == 0 and text.startswith(separator, i):
            parts.append(current.strip())
            current, i = "", i + len(separator)
            continue
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        current += text[i]
        i += 1
    parts.append(current.strip())
    return parts


SQL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sha256": lambda b: hashlib.sha256(b).digest(),
    "int8send": lambda v: v.to_bytes(8, "big", signed=True),
    "int4send": lambda v: v.to_bytes(4, "big", signed=True),
    "uuid_send": lambda u: u.bytes,
    "octet_length": len,
    "convert_to": lambda s, encoding: s.encode({"UTF8": "utf-8"}[encoding]),
    "repeat": lambda s, n: s * n,
    "decode": lambda s, form: {"hex": bytes.fromhex}[form](s),
    "coalesce": lambda *values: next(v for v in values if v is not None),
}


def evaluate_sql(expression: str, env: dict[str, Any]) -> Any:
    """A tiny evaluator for the expressions CHAIN_SQL uses (||, calls, casts, literals)."""
    terms = _split_top_level(expression.strip(), "||")
    if len(terms) > 1:
        values = [evaluate_sql(term, env) for term in terms]
        assert all(isinstance(v, bytes) for v in values), terms
        return b"".join(values)
    term = terms[0]
    if term.endswith("::bigint"):
        return evaluate_sql(term.removesuffix("::bigint"), env)
    if call := re.fullmatch(r"(\w+)\((.*)\)", term, re.S):
        name, arguments = call.groups()
        args = [evaluate_sql(a, env) for a in _split_top_level(arguments, ",")]
        return SQL_FUNCTIONS[name](*args)
    if term.startswith("'") and term.endswith("'"):
        return term[1:-1]
    if term.isdigit():
        return int(term)
    return env[term]


def sql_link_body() -> str:
    match = re.search(r"\nRETURN (sha256\(.*?\));\n", CHAIN_SQL, re.S)
    assert match
    return match.group(1)


@given(events_st, st.binary(min_size=32, max_size=32))
def test_the_sql_function_computes_what_link_computes(event: StoredEvent, previous: bytes) -> None:
    env = {
        "p_previous": previous,
        "p_position": event.position,
        "p_originator_id": event.originator_id,
        "p_originator_version": event.originator_version,
        "p_topic": event.topic,
        "p_state": event.state,
    }
    assert evaluate_sql(sql_link_body(), env) == link(previous, event)


@pytest.mark.parametrize(("sql", "row"), [(CHAIN_SQL, "r"), (CHAIN_BACKFILL_SQL, "r")])
def test_the_trigger_and_backfill_pass_the_row_in_parameter_order(sql: str, row: str) -> None:
    call = re.search(r"event_chain_link\(\s*(coalesce\(.*?\)\)),(.*?)\)\s*\)?;", sql, re.S)
    assert call
    genesis, arguments = call.groups()
    assert evaluate_sql(genesis, {"last_hash": None}) == GENESIS
    assert [a.strip() for a in arguments.split(",")] == [
        f"{row}.notification_id",
        f"{row}.originator_id",
        f"{row}.originator_version::bigint",
        f"{row}.topic",
        f"{row}.state",
    ]


def test_the_chain_sql_has_the_table_the_trigger_and_the_lock() -> None:
    sql = " ".join(CHAIN_SQL.split())
    assert "CREATE TABLE IF NOT EXISTS event_chain ( position bigint PRIMARY KEY," in sql
    assert "hash bytea NOT NULL" in sql
    assert "CREATE OR REPLACE FUNCTION event_chain_link(" in sql
    assert "CREATE OR REPLACE FUNCTION event_chain_append() RETURNS trigger" in sql
    assert (
        "CREATE OR REPLACE TRIGGER event_chain_append AFTER INSERT ON {events_table} "
        "REFERENCING NEW TABLE AS appended "
        "FOR EACH STATEMENT EXECUTE FUNCTION event_chain_append();" in sql
    )
    assert "FOR r IN SELECT * FROM appended ORDER BY notification_id LOOP" in sql
    assert f"pg_advisory_xact_lock({CHAIN_LOCK_KEY})" in sql
    assert f"pg_advisory_xact_lock({CHAIN_LOCK_KEY})" in CHAIN_BACKFILL_SQL
    assert 0 < CHAIN_LOCK_KEY < 2**63
    assert "INSERT INTO event_chain (position, hash)" in sql
    assert "last_position := r.notification_id;" in sql  # each row checked against the last
    assert "ORDER BY c.position DESC LIMIT 1" in sql
    assert "%" not in CHAIN_SQL + CHAIN_BACKFILL_SQL  # safe to send through any driver
    for text in (CHAIN_SQL, CHAIN_BACKFILL_SQL):
        assert set(re.findall(r"\{[^}]*\}", text)) == {"{events_table}"}
        formatted = text.format(events_table='"public"."lead_events"')
        assert 'ON "public"."lead_events"' in formatted or 'FROM "public"."lead_events"' in (
            formatted
        )
        assert "{" not in formatted
        assert formatted.count("$$") % 2 == 0


def test_the_chain_sql_formats_with_psycopg_identifiers() -> None:
    from psycopg import sql

    text = sql.SQL(CHAIN_SQL).format(events_table=sql.Identifier("lead_events")).as_string()
    assert 'AFTER INSERT ON "lead_events"' in text


# --- verify_chain -------------------------------------------------------------


def test_a_clean_chain_verifies_and_reports_progress() -> None:
    events = make_events(30, gaps=True)
    seen: list[int] = []
    assert verify_chain(events, chain_of(events), progress=seen.append) is None
    assert seen == [e.position for e in events]
    hashes = chain_of(events)
    assert verify_chain(iter(events), hashes.get) is None


def test_a_later_range_verifies_from_its_start_hash() -> None:
    events = make_events(20, gaps=True)
    hashes = chain_of(events)
    start = hashes[events[9].position]
    assert verify_chain(events[10:], hashes.get, start_hash=start) is None
    assert verify_chain(events[10:], hashes.get, start_hash=GENESIS) == Finding(
        1, "removed", "the chain records an event at position 1; the store has none"
    )


@given(st.integers(0, 24), st.data())
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_a_changed_byte_is_altered_at_its_position(index: int, data: st.DataObject) -> None:
    events = make_events(25, gaps=True)
    hashes = chain_of(events)
    target = events[index]
    at = data.draw(st.integers(0, len(target.state) - 1))
    state = bytearray(target.state)
    state[at] ^= data.draw(st.integers(1, 255))
    events[index] = replace(target, state=bytes(state))
    finding = verify_chain(events, hashes)
    assert finding is not None
    assert (finding.position, finding.kind) == (target.position, "altered")


@pytest.mark.parametrize("field", ["originator_id", "originator_version", "topic"])
def test_a_changed_field_is_altered(field: str) -> None:
    events = make_events(10)
    hashes = chain_of(events)
    value: Any = {"originator_id": uuid4(), "originator_version": 99, "topic": "events.x:Y"}[field]
    events[4] = replace(events[4], **{field: value})
    assert verify_chain(events, hashes) == Finding(
        5,
        "altered",
        "the event at position 5 does not match the hash the chain recorded for it (its "
        "content changed, or an earlier event was removed with its chain entry)",
    )


@pytest.mark.parametrize("index", [0, 1, 7, 13])
def test_a_deleted_event_is_removed(index: int) -> None:
    events = make_events(15, gaps=True)
    hashes = chain_of(events)
    gone = events.pop(index)
    finding = verify_chain(events, hashes.get)
    assert finding is not None
    assert (finding.position, finding.kind) == (gone.position, "removed")


def test_deleting_the_last_events_is_removed_when_the_chain_is_a_mapping() -> None:
    events = make_events(10)
    hashes = chain_of(events)
    assert verify_chain(events[:8], hashes) == Finding(
        9, "removed", "the chain records an event at position 9; the store has none"
    )
    assert verify_chain([], hashes) is not None
    assert verify_chain([], {}) is None


def test_an_event_deleted_with_its_chain_entry_shows_at_the_next_event() -> None:
    events = make_events(10)
    hashes = chain_of(events)
    del events[3], hashes[4]
    finding = verify_chain(events, hashes)
    assert finding is not None
    assert (finding.position, finding.kind) == (5, "altered")


def test_an_event_at_a_new_position_is_inserted() -> None:
    events = make_events(12, gaps=True)
    hashes = chain_of(events)
    gap = next(p for p in range(1, 20) if p not in hashes)
    forged = StoredEvent(gap, uuid4(), 1, "events.case:Forged", b"{}")
    tampered = sorted([*events, forged], key=lambda e: e.position)
    assert verify_chain(tampered, hashes) == Finding(
        gap, "inserted", f"the chain records no event at position {gap}"
    )
    after = replace(forged, position=events[-1].position + 1)
    finding = verify_chain([*events, after], hashes)
    assert finding is not None
    assert (finding.position, finding.kind) == (after.position, "inserted")


@pytest.mark.parametrize(("i", "j"), [(2, 3), (2, 9), (0, 14)])
def test_two_swapped_events_are_reordered_at_the_first(i: int, j: int) -> None:
    events = make_events(15, gaps=True)
    hashes = chain_of(events)
    a, b = events[i], events[j]
    events[i] = replace(b, position=a.position)
    events[j] = replace(a, position=b.position)
    assert verify_chain(events, hashes) == Finding(
        a.position,
        "reordered",
        f"the event recorded at position {a.position} is now at {b.position}",
    )


def test_swapped_states_are_reordered_at_the_first() -> None:
    events = make_events(10)
    hashes = chain_of(events)
    events[3], events[6] = (
        replace(events[3], state=events[6].state),
        replace(events[6], state=events[3].state),
    )
    finding = verify_chain(events, hashes)
    assert finding is not None
    assert (finding.position, finding.kind) == (4, "reordered")


def test_an_event_moved_into_a_gap_is_reordered() -> None:
    events = make_events(10)
    hashes = chain_of(events)
    moved = events.pop(2)
    events.append(replace(moved, position=50))
    finding = verify_chain(events, hashes)
    assert finding == Finding(3, "reordered", "the event recorded at position 3 is now at 50")


def test_events_out_of_order_are_refused() -> None:
    events = make_events(5)
    hashes = chain_of(events)
    for wrong in ([0, 1, 1], [0, 2, 1], [1, 0]):
        with pytest.raises(ValueError):
            verify_chain([events[i] for i in wrong], hashes)
    with pytest.raises(ValueError):
        verify_chain([events[1], events[3], events[2]], hashes, start_hash=hashes[1])


# --- verify_sequence ----------------------------------------------------------


def seq(*items: tuple[int, str]) -> list[tuple[int, bytes]]:
    return [(p, d.encode()) for p, d in items]


EXPECTED = seq((1, "a"), (2, "b"), (4, "d"), (5, "e"), (7, "g"))


@pytest.mark.parametrize(
    ("actual", "finding"),
    [
        (EXPECTED, None),
        (EXPECTED[:2] + EXPECTED + EXPECTED[2:], None),  # a batch republished
        (seq((1, "a"), (2, "b"), (4, "X"), (5, "e"), (7, "g")), (4, "altered")),
        (seq((1, "a"), (2, "b"), (5, "e"), (7, "g")), (4, "removed")),
        (seq((1, "a"), (2, "b"), (4, "d"), (5, "e")), (7, "removed")),
        (seq((1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e"), (7, "g")), (3, "inserted")),
        (seq((1, "a"), (5, "e"), (4, "d"), (2, "b"), (7, "g")), (2, "reordered")),
        (seq((1, "a"), (4, "d"), (2, "b"), (5, "e"), (7, "g")), (2, "reordered")),
        (seq((1, "a"), (2, "b"), (4, "d"), (2, "Z"), (5, "e"), (7, "g")), (2, "altered")),
        (seq((2, "b"), (1, "a"), (4, "d"), (5, "e"), (7, "X")), (1, "reordered")),
        (seq((1, "a"), (2, "b"), (5, "e"), (4, "d"), (7, "X"), (8, "h")), (4, "reordered")),
        (seq((1, "a"), (2, "X"), (5, "e"), (4, "d"), (7, "g")), (2, "altered")),
        ([], (1, "removed")),
    ],
)
def test_verify_sequence(actual: list[tuple[int, bytes]], finding: tuple[int, str] | None) -> None:
    result = verify_sequence(actual, EXPECTED)
    assert (result and (result.position, result.kind)) == finding


@given(st.permutations(EXPECTED))
def test_any_permutation_is_reordered_at_the_first_displaced_position(
    actual: list[tuple[int, bytes]],
) -> None:
    result = verify_sequence(actual, EXPECTED)
    if actual == EXPECTED:
        assert result is None
    else:
        first = next(e for a, e in zip(actual, EXPECTED, strict=True) if a != e)
        assert result is not None
        assert (result.position, result.kind) == (first[0], "reordered")


def test_verify_sequence_refuses_an_expected_sequence_with_two_digests_for_a_position() -> None:
    with pytest.raises(ValueError):
        verify_sequence([], seq((1, "a"), (1, "b")))


# --- checkpoints and keys -------------------------------------------------------


def checkpoint(position: int = 10, hash_: bytes = b"\x11" * 32) -> Checkpoint:
    return sign(Checkpoint(position=position, hash=hash_, at=AT, site=SITE), KEY)


def test_a_signed_checkpoint_checks_with_the_sites_key_only() -> None:
    signed = checkpoint()
    public = load_public_key(public_key_pem(KEY))
    assert check_signature(signed, public)
    assert not check_signature(signed, OTHER_KEY.public_key())
    assert not check_signature(sign(replace(signed, signature=None), OTHER_KEY), public)
    assert not check_signature(replace(signed, signature=None), public)


@pytest.mark.parametrize(
    "change",
    [
        {"position": 11},
        {"hash": b"\x12" * 32},
        {"site": "other-site"},
        {"at": AT + timedelta(microseconds=1)},
    ],
)
def test_a_tampered_checkpoint_is_rejected(change: dict[str, Any]) -> None:
    assert not check_signature(replace(checkpoint(), **change), KEY.public_key())


def test_the_signed_bytes_are_the_documented_text() -> None:
    at = datetime(2025, 3, 4, 6, 6, 7, tzinfo=timezone(timedelta(hours=1)))
    signed = Checkpoint(position=42, hash=bytes(range(32)), at=at, site=SITE)
    assert signed.signed_bytes() == (
        b"lead-checkpoint-v1\nsite=king-county\nposition=42\n"
        b"hash=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
        b"at=2025-03-04T05:06:07.000000Z\n"
    )
    KEY.public_key().verify(sign(signed, KEY).signature or b"", signed.signed_bytes())


@given(
    st.integers(0, 2**63 - 1),
    st.binary(min_size=32, max_size=32),
    st.datetimes(timezones=st.timezones()),
    st.text(min_size=1).filter(str.isprintable),
)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_a_checkpoint_survives_json(position: int, hash_: bytes, at: datetime, site: str) -> None:
    try:
        original = sign(Checkpoint(position, hash_, at, site), KEY)
    except (OverflowError, ValueError):  # a local time that is not representable in UTC
        return
    data = json.loads(json.dumps(original.to_json()))
    again = Checkpoint.from_json(data)
    assert again == original
    assert again.signed_bytes() == original.signed_bytes()
    assert check_signature(again, KEY.public_key())
    assert data["at"].endswith("Z")


@pytest.mark.parametrize(
    "data",
    [
        {},
        [],
        "checkpoint",
        {**checkpoint().to_json(), "hash": "zz"},
        {**checkpoint().to_json(), "hash": "00"},
        {**checkpoint().to_json(), "position": "10"},
        {**checkpoint().to_json(), "position": True},
        {**checkpoint().to_json(), "at": "2025-03-04T05:06:07"},
        {**checkpoint().to_json(), "signature": "abcd"},
        {**checkpoint().to_json(), "site": "two\nlines"},
    ],
)
def test_from_json_refuses_what_is_not_a_checkpoint(data: Any) -> None:
    with pytest.raises(ValueError):
        Checkpoint.from_json(data)


def test_keys_load_from_pem_and_raw_bytes() -> None:
    pem = generate_private_key_pem()
    key = load_private_key(pem)
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    assert public_key_pem(load_private_key(raw)) == public_key_pem(key)
    public_raw = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert check_signature(sign(checkpoint(), key), load_public_key(public_raw))
    assert public_key_pem(key).startswith(b"-----BEGIN PUBLIC KEY-----")
    x25519_pem = X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError):
        load_private_key(x25519_pem)
    with pytest.raises(ValueError):
        load_private_key(b"short")
    with pytest.raises(ValueError):
        load_public_key(b"not a key")


# --- slices -----------------------------------------------------------------------


def export(
    tmp_path: Path, events: list[StoredEvent], start: bytes = GENESIS, key: Any = KEY
) -> tuple[Path, dict[int, bytes]]:
    hashes = chain_of(events, start)
    last = events[-1].position
    cp = sign(Checkpoint(position=last, hash=hashes[last], at=AT, site=SITE), key)
    path = tmp_path / "slice.jsonl"
    assert write_slice(path, SITE, events, start, cp) == len(events)
    return path, hashes


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


PUBLIC = KEY.public_key()


def test_a_slice_round_trips(tmp_path: Path) -> None:
    events = make_events(20, gaps=True)
    path, _ = export(tmp_path, events)
    assert verify_slice(path, PUBLIC) is None
    lines = lines_of(path)
    assert lines[0] == {
        "format": "lead-history-slice-v1",
        "site": SITE,
        "from": 1,
        "to": events[-1].position,
        "start_hash": "00" * 32,
    }
    assert len(lines) == 22
    assert base64.b64decode(lines[5]["state_b64"]) == events[4].state
    assert set(lines[-1]) == {"checkpoint"}
    assert not list(tmp_path.glob("*.tmp"))


def test_a_later_slice_round_trips_and_checks_a_published_checkpoint(tmp_path: Path) -> None:
    events = make_events(30, gaps=True)
    full = chain_of(events)
    start = full[events[9].position]
    path, hashes = export(tmp_path, events[10:], start)
    assert lines_of(path)[0]["start_hash"] == start.hex()
    middle = events[15].position
    published = sign(Checkpoint(middle, hashes[middle], AT, SITE), KEY)
    assert verify_slice(path, PUBLIC, published=published) is None
    wrong = sign(Checkpoint(middle, b"\x00" * 32, AT, SITE), KEY)
    assert verify_slice(path, PUBLIC, published=wrong) == Finding(
        middle, "altered", "the chain does not match the published checkpoint"
    )
    gap = next(p for p in range(events[10].position, 100) if p not in hashes)
    missing = sign(Checkpoint(gap, b"\x00" * 32, AT, SITE), KEY)
    finding = verify_slice(path, PUBLIC, published=missing)
    assert finding is not None
    assert (finding.position, finding.kind) == (gap, "removed")
    forged = sign(Checkpoint(middle, hashes[middle], AT, SITE), OTHER_KEY)
    finding = verify_slice(path, PUBLIC, published=forged)
    assert finding is not None
    assert finding.kind == "altered"
    with pytest.raises(ValueError):
        verify_slice(path, PUBLIC, published=sign(Checkpoint(1, start, AT, SITE), KEY))


@pytest.mark.parametrize("index", [0, 4, 19])
def test_a_changed_byte_in_a_state_is_altered(tmp_path: Path, index: int) -> None:
    events = make_events(20)
    path, _ = export(tmp_path, events)
    lines = lines_of(path)
    state = bytearray(base64.b64decode(lines[index + 1]["state_b64"]))
    state[0] ^= 1
    lines[index + 1]["state_b64"] = base64.b64encode(state).decode()
    write_lines(path, lines)
    finding = verify_slice(path, PUBLIC)
    assert finding is not None
    assert (finding.position, finding.kind) == (events[index].position, "altered")


def test_a_change_whose_exported_hashes_were_recomputed_is_found_at_the_end(
    tmp_path: Path,
) -> None:
    events = make_events(10)
    path, _ = export(tmp_path, events)
    lines = lines_of(path)
    for line in lines[1:-1]:
        del line["hash"]
    lines[3]["topic"] = "events.case:Forged"
    write_lines(path, lines)
    finding = verify_slice(path, PUBLIC)
    assert finding is not None
    assert (finding.position, finding.kind) == (10, "altered")


def test_a_removed_line_is_found(tmp_path: Path) -> None:
    events = make_events(10)
    path, _ = export(tmp_path, events)
    lines = lines_of(path)
    del lines[4]
    write_lines(path, lines)
    finding = verify_slice(path, PUBLIC)
    assert finding is not None
    assert (finding.position, finding.kind) == (5, "altered")


@pytest.mark.parametrize(("index", "position", "kind"), [(1, 1, "removed"), (10, 10, "removed")])
def test_removing_the_first_or_last_event_line_is_removed(
    tmp_path: Path, index: int, position: int, kind: str
) -> None:
    path, _ = export(tmp_path, make_events(10))
    lines = lines_of(path)
    del lines[index]
    write_lines(path, lines)
    finding = verify_slice(path, PUBLIC)
    assert finding is not None
    assert (finding.position, finding.kind) == (position, kind)


def test_an_inserted_line_is_inserted(tmp_path: Path) -> None:
    events = make_events(10, gaps=True)
    path, hashes = export(tmp_path, events)
    lines = lines_of(path)
    gap = next(p for p in range(1, 20) if p not in hashes)
    forged = StoredEvent(gap, uuid4(), 1, "events.case:Forged", b"{}")
    at = next(i for i, line in enumerate(lines[1:-1], 1) if line["position"] > gap)
    lines.insert(at, {**lines[at], **json.loads(json.dumps(_line(forged)))})
    write_lines(path, lines)
    finding = verify_slice(path, PUBLIC)
    assert finding is not None
    assert (finding.position, finding.kind) == (gap, "inserted")


def _line(event: StoredEvent) -> dict[str, Any]:
    return {
        "position": event.position,
        "originator_id": str(event.originator_id),
        "originator_version": event.originator_version,
        "topic": event.topic,
        "state_b64": base64.b64encode(event.state).decode(),
        "hash": "ab" * 32,
    }


def test_swapped_lines_are_reordered(tmp_path: Path) -> None:
    path, _ = export(tmp_path, make_events(10))
    lines = lines_of(path)
    lines[3], lines[6] = lines[6], lines[3]
    write_lines(path, lines)
    finding = verify_slice(path, PUBLIC)
    assert finding is not None
    assert (finding.position, finding.kind) == (3, "reordered")


def test_a_checkpoint_from_another_key_is_rejected(tmp_path: Path) -> None:
    path, _ = export(tmp_path, make_events(10), key=OTHER_KEY)
    assert verify_slice(path, PUBLIC) == Finding(
        10, "altered", "checkpoint signature does not match the site's key"
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda lines: lines[-1]["checkpoint"].update(position=9),
        lambda lines: lines[-1]["checkpoint"].update(hash="00" * 32),
        lambda lines: lines[-1]["checkpoint"].update(signature=None),
    ],
)
def test_a_tampered_checkpoint_line_is_rejected(
    tmp_path: Path, change: Callable[[list[dict[str, Any]]], None]
) -> None:
    path, _ = export(tmp_path, make_events(10))
    lines = lines_of(path)
    change(lines)
    write_lines(path, lines)
    assert verify_slice(path, PUBLIC) == Finding(
        10, "altered", "checkpoint signature does not match the site's key"
    )


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        (lambda lines: lines.pop(), "removed"),
        (lambda lines: lines[0].update(format="other"), "altered"),
        (lambda lines: lines[0].update(start_hash="11" * 32), "altered"),
        (lambda lines: lines[0].update(to=9), "altered"),
        (lambda lines: lines[0].update(site="elsewhere"), "altered"),
        (lambda lines: lines[4].update(state_b64="not base64!"), "altered"),
        (lambda lines: lines[4].pop("topic"), "altered"),
        (lambda lines: lines[4].update(position=3), "inserted"),
        (lambda lines: lines.insert(5, lines[0]), "altered"),
    ],
)
def test_a_damaged_slice_is_reported(
    tmp_path: Path, change: Callable[[list[dict[str, Any]]], Any], kind: str
) -> None:
    path, _ = export(tmp_path, make_events(10))
    lines = lines_of(path)
    change(lines)
    write_lines(path, lines)
    finding = verify_slice(path, PUBLIC)
    assert finding is not None
    assert finding.kind == kind


def test_a_file_that_is_not_a_slice_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "slice.jsonl"
    path.write_bytes(b"")
    assert verify_slice(path, PUBLIC) == Finding(0, "removed", "the file is empty")
    path.write_bytes(b"\xff\xfe{\n")
    finding = verify_slice(path, PUBLIC)
    assert finding is not None
    assert finding.kind == "altered"


def test_write_slice_refuses_what_would_not_be_a_slice(tmp_path: Path) -> None:
    events = make_events(5)
    hashes = chain_of(events)
    cp = sign(Checkpoint(5, hashes[5], AT, SITE), KEY)
    path = tmp_path / "slice.jsonl"
    with pytest.raises(ValueError):
        write_slice(path, SITE, [], GENESIS, cp)
    with pytest.raises(ValueError):
        write_slice(path, SITE, events, GENESIS, replace(cp, signature=None))
    with pytest.raises(ValueError):
        write_slice(path, "elsewhere", events, GENESIS, cp)
    with pytest.raises(ValueError):
        write_slice(path, SITE, events[:4], GENESIS, cp)
    with pytest.raises(ValueError):
        write_slice(path, SITE, [events[0], events[2], events[1], events[4]], GENESIS, cp)
    assert not list(tmp_path.iterdir())
