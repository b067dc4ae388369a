"""Tamper-evident history: a hash chain over the event store, signed checkpoints, slices.

This module is the pure core (no database, no network). It is written so that an
auditor can check an exported slice of history without our code, with only the
site's Ed25519 public key; everything needed to do that is described here.

1. The chain
------------
Every stored event has a *position*: its notification id, the store's global order.
Positions increase but need not be consecutive (a rolled-back insert skips one).
Each event gets a 32-byte chain hash linking it to the event before it::

    hash(e) = SHA-256( previous                  32 bytes: the chain hash of the event
                                                 before e, or GENESIS (32 zero bytes)
                                                 for the first event
                     || position             8 bytes, signed big-endian (int8send)
                     || originator_id       16 bytes, the UUID's bytes in RFC 4122
                                                 order (uuid_send; Python's UUID.bytes)
                     || originator_version   8 bytes, signed big-endian
                     || len(topic)           4 bytes, signed big-endian: the number of
                                                 BYTES of the UTF-8 topic
                     || topic                the topic, UTF-8
                     || len(state)           8 bytes, signed big-endian
                     || state )              the stored state bytes, as stored

Every field is either fixed-width or length-prefixed, so two different events can
never encode to the same bytes. `link` computes it in Python; `CHAIN_SQL` installs
the same computation in PostgreSQL (`event_chain_link`) and a trigger that appends
(position, hash) to the table `event_chain` for the events each statement inserts (in
position order, once per statement: one lock and one look at the chain's end for all).

2. Checkpoints
--------------
A checkpoint says "at `at`, the chain hash of position P at site S was H". The site
signs it with its Ed25519 key (RFC 8032, pure Ed25519, no pre-hashing) over exactly
these UTF-8 bytes (each line ends with a single \\n, no spaces)::

    lead-checkpoint-v1
    site=<site>
    position=<P in decimal, no leading zeros>
    hash=<H as 64 lowercase hex digits>
    at=<at in UTC as YYYY-MM-DDTHH:MM:SS.ffffffZ (always 6 fractional digits)>

As JSON a checkpoint is ``{"site": str, "position": int, "hash": hex, "at": str,
"signature": hex of the 64-byte signature or null}``; "at" is read as ISO 8601 and
must carry a time zone.

3. History slices (offline verification)
----------------------------------------
A slice is a UTF-8 JSON Lines file (one JSON object per line):

* first line, the header::

    {"format": "lead-history-slice-v1", "site": S, "from": P, "to": Q,
     "start_hash": hex}

  P is the position of the first event in the slice, Q that of the last one;
  start_hash is the chain hash of the event before P (GENESIS, 64 zeros, if P is
  the first event of the store).
* then one line per event, in increasing position::

    {"position": int, "originator_id": "<uuid>", "originator_version": int,
     "topic": str, "state_b64": standard base64 (with padding) of the state,
     "hash": hex}

  "hash" is the chain hash the exporter computed for this event. It is NOT signed:
  it only helps to locate a change. A verifier may ignore it.
* last line: ``{"checkpoint": <checkpoint JSON>}`` for position Q.

To verify a slice: check the checkpoint's signature with the site's public key,
that its site is the header's and its position is Q; then, starting from
start_hash, fold `hash(e)` over the events in file order (positions must strictly
increase, start at P and end at Q); the result must equal the checkpoint's hash.
If it does, every event in the slice is exactly as it was when the chain was
built: changing, removing, inserting or reordering any of them would require a
SHA-256 second preimage. start_hash is not trusted by itself: to join slices,
check that a slice's start_hash is the hash of a previous, verified checkpoint.
A checkpoint published elsewhere (for position P..Q) can be checked against the
recomputed hash at its position, which also guards against a stolen key.

4. Finding the first problem
----------------------------
`verify_chain` compares a store's events to its recorded chain, `verify_sequence`
compares two sequences of (position, digest) -- e.g. the Kafka topic's copy against
the store -- and `verify_slice` checks a slice file. Each returns the FIRST problem
as a `Finding` (position, kind, detail) or None when everything matches.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import itertools
import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Literal, TypeGuard, TypeVar
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "CHAIN_BACKFILL_SQL",
    "CHAIN_LOCK_KEY",
    "CHAIN_SQL",
    "CHECKPOINT_FORMAT",
    "GENESIS",
    "REORDER_WINDOW",
    "SLICE_FORMAT",
    "Checkpoint",
    "Finding",
    "Recorded",
    "StoredEvent",
    "check_signature",
    "generate_private_key_pem",
    "link",
    "load_private_key",
    "load_public_key",
    "public_key_pem",
    "sign",
    "verify_chain",
    "verify_sequence",
    "verify_slice",
    "write_slice",
]

GENESIS: bytes = bytes(32)
HASH_SIZE = 32
SLICE_FORMAT = "lead-history-slice-v1"
CHECKPOINT_FORMAT = "lead-checkpoint-v1"
# How many following events the verifiers examine to tell a reordering from a change.
REORDER_WINDOW = 64
# The key of the transaction-level advisory lock the trigger takes (b"leadchn1" as int8).
CHAIN_LOCK_KEY = int.from_bytes(b"leadchn1", "big")

# PostgreSQL 15, no extensions. `{events_table}` is the (quoted, optionally
# schema-qualified) events table: format it with psycopg's
# sql.SQL(CHAIN_SQL).format(events_table=sql.Identifier(...)) or str.format.
# Idempotent; run it before the first event is written (or run CHAIN_BACKFILL_SQL).
CHAIN_SQL = """\
CREATE TABLE IF NOT EXISTS event_chain (
    position bigint PRIMARY KEY,
    hash bytea NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE OR REPLACE FUNCTION event_chain_link(
    p_previous bytea,
    p_position bigint,
    p_originator_id uuid,
    p_originator_version bigint,
    p_topic text,
    p_state bytea
) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN sha256(
    p_previous
    || int8send(p_position)
    || uuid_send(p_originator_id)
    || int8send(p_originator_version)
    || int4send(octet_length(convert_to(p_topic, 'UTF8')))
    || convert_to(p_topic, 'UTF8')
    || int8send(octet_length(p_state)::bigint)
    || p_state
);

CREATE OR REPLACE FUNCTION event_chain_append() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    last_position bigint;
    last_hash bytea;
    positions bigint[] := ARRAY[]::bigint[];
    hashes bytea[] := ARRAY[]::bytea[];
BEGIN
    PERFORM pg_advisory_xact_lock(7810756212536405553);
    SELECT c.position, c.hash INTO last_position, last_hash
        FROM event_chain AS c
        ORDER BY c.position DESC
        LIMIT 1;
    FOR r IN SELECT * FROM appended ORDER BY notification_id LOOP
        IF last_position >= r.notification_id THEN
            RAISE EXCEPTION USING MESSAGE =
                'event_chain: position ' || r.notification_id
                || ' is not after the end of the chain (' || last_position || ')';
        END IF;
        last_hash := event_chain_link(
            coalesce(last_hash, decode(repeat('00', 32), 'hex')),
            r.notification_id,
            r.originator_id,
            r.originator_version::bigint,
            r.topic,
            r.state
        );
        last_position := r.notification_id;
        positions := array_append(positions, r.notification_id);
        hashes := array_append(hashes, last_hash);
    END LOOP;
    INSERT INTO event_chain (position, hash) SELECT * FROM unnest(positions, hashes);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER event_chain_append
    AFTER INSERT ON {events_table}
    REFERENCING NEW TABLE AS appended
    FOR EACH STATEMENT EXECUTE FUNCTION event_chain_append();
"""

# Chains the events stored after the end of the chain (all of them on a store that
# predates CHAIN_SQL); a no-op when the chain is up to date. Run after CHAIN_SQL, in
# the same transaction. It vouches for whatever the table holds when it runs.
CHAIN_BACKFILL_SQL = """\
DO $$
DECLARE
    r record;
    last_position bigint;
    last_hash bytea;
BEGIN
    LOCK TABLE {events_table} IN EXCLUSIVE MODE;
    PERFORM pg_advisory_xact_lock(7810756212536405553);
    SELECT c.position, c.hash INTO last_position, last_hash
        FROM event_chain AS c
        ORDER BY c.position DESC
        LIMIT 1;
    FOR r IN
        SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state
            FROM {events_table} AS e
            WHERE last_position IS NULL OR e.notification_id > last_position
            ORDER BY e.notification_id
    LOOP
        last_hash := event_chain_link(
            coalesce(last_hash, decode(repeat('00', 32), 'hex')),
            r.notification_id,
            r.originator_id,
            r.originator_version::bigint,
            r.topic,
            r.state
        );
        INSERT INTO event_chain (position, hash) VALUES (r.notification_id, last_hash);
    END LOOP;
END
$$;
"""


@dataclass(frozen=True)
class StoredEvent:
    """One row of the events table (eventsourcing's `Notification` has the same fields)."""

    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


def _int(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big", signed=True)


def link(previous: bytes, event: StoredEvent) -> bytes:
    """The chain hash of `event` after the chain hash `previous` (see the module docs)."""
    if len(previous) != HASH_SIZE:
        raise ValueError(f"a chain hash has {HASH_SIZE} bytes, got {len(previous)}")
    topic = event.topic.encode("utf-8")
    digest = hashlib.sha256(previous)
    digest.update(_int(event.position, 8))
    digest.update(event.originator_id.bytes)
    digest.update(_int(event.originator_version, 8))
    digest.update(_int(len(topic), 4))
    digest.update(topic)
    digest.update(_int(len(event.state), 8))
    digest.update(event.state)
    return digest.digest()


# ---------------------------------------------------------------------------
# Checkpoints and keys


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True)
class Checkpoint:
    """The chain hash at `position`, as of `at`, at `site`; signed by the site's key."""

    position: int
    hash: bytes
    at: datetime
    site: str
    signature: bytes | None = None

    def __post_init__(self) -> None:
        if isinstance(self.position, bool) or not isinstance(self.position, int):
            raise TypeError("a checkpoint's position is an int")
        if self.position < 0:
            raise ValueError("a checkpoint's position is not negative")
        if len(self.hash) != HASH_SIZE:
            raise ValueError(f"a checkpoint's hash has {HASH_SIZE} bytes")
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("a checkpoint's time must carry a time zone")
        if not self.site or not self.site.isprintable():
            raise ValueError("a checkpoint's site is a non-empty printable string")
        if self.signature is not None and len(self.signature) != 64:
            raise ValueError("an Ed25519 signature has 64 bytes")
        object.__setattr__(self, "at", self.at.astimezone(UTC))

    def signed_bytes(self) -> bytes:
        """The exact bytes the site signs (the signature itself is not part of them)."""
        return (
            f"{CHECKPOINT_FORMAT}\n"
            f"site={self.site}\n"
            f"position={self.position}\n"
            f"hash={self.hash.hex()}\n"
            f"at={_utc_text(self.at)}\n"
        ).encode()

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "position": self.position,
            "hash": self.hash.hex(),
            "at": _utc_text(self.at),
            "signature": None if self.signature is None else self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        """The checkpoint `to_json` wrote; ValueError if `data` is not one."""
        try:
            position, hash_hex, at, site = (data[k] for k in ("position", "hash", "at", "site"))
            signature = data.get("signature")
            if isinstance(position, bool) or not isinstance(position, int):
                raise TypeError("position is not an int")
            if not all(isinstance(v, str) for v in (hash_hex, at, site)):
                raise TypeError("hash, at and site are strings")
            if signature is not None and not isinstance(signature, str):
                raise TypeError("signature is a hex string or null")
            return cls(
                position=position,
                hash=bytes.fromhex(hash_hex),
                at=datetime.fromisoformat(at),
                site=site,
                signature=None if signature is None else bytes.fromhex(signature),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"not a checkpoint: {error}") from error


def sign(checkpoint: Checkpoint, private_key: Ed25519PrivateKey) -> Checkpoint:
    return replace(checkpoint, signature=private_key.sign(checkpoint.signed_bytes()))


def check_signature(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    if checkpoint.signature is None:
        return False
    try:
        public_key.verify(checkpoint.signature, checkpoint.signed_bytes())
    except InvalidSignature:
        return False
    return True


def load_private_key(pem_or_raw: bytes) -> Ed25519PrivateKey:
    """An Ed25519 key from an unencrypted PKCS#8 PEM or from its 32 raw bytes."""
    if pem_or_raw.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(pem_or_raw, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the PEM does not hold an Ed25519 private key")
        return key
    if len(pem_or_raw) == 32:
        return Ed25519PrivateKey.from_private_bytes(pem_or_raw)
    raise ValueError("expected a PEM private key or 32 raw bytes")


def public_key_pem(private_key: Ed25519PrivateKey) -> bytes:
    """The public half, as a SubjectPublicKeyInfo PEM (what auditors are given)."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from a SubjectPublicKeyInfo PEM (or its 32 raw bytes)."""
    if pem.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM does not hold an Ed25519 public key")
        return key
    if len(pem) == 32:
        return Ed25519PublicKey.from_public_bytes(pem)
    raise ValueError("expected a PEM public key or 32 raw bytes")


def generate_private_key_pem() -> bytes:
    """A new Ed25519 key as an unencrypted PKCS#8 PEM (keep it like a password)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# ---------------------------------------------------------------------------
# Verification

T = TypeVar("T")
_P = TypeVar("_P", int, StoredEvent)
Kind = Literal["altered", "removed", "inserted", "reordered"]
Recorded = Mapping[int, bytes] | Callable[[int], bytes | None]


@dataclass(frozen=True)
class Finding:
    """The first place where history no longer matches: its position and what happened."""

    position: int
    kind: Kind
    detail: str


class _Ahead(Generic[T]):
    """An iterator that can look a few items ahead."""

    def __init__(self, items: Iterable[T], size: int) -> None:
        self._items = iter(items)
        self._buffer: deque[T] = deque()
        self._size = size

    def next(self) -> T | None:
        return self._buffer.popleft() if self._buffer else next(self._items, None)

    def peek(self) -> list[T]:
        while len(self._buffer) < self._size:
            item = next(self._items, None)
            if item is None:
                break
            self._buffer.append(item)
        return list(self._buffer)


def _belongs_at(
    previous: bytes,
    position: int,
    recorded: bytes,
    candidates: Iterable[StoredEvent],
    *,
    occupant: StoredEvent | None = None,
) -> StoredEvent | None:
    """The candidate whose content is what the chain recorded at `position`, if any.

    A candidate matches if its whole content (a swap of two rows' positions), or its
    topic and state, or its state alone put into `occupant` (a swap of two rows'
    payloads), hashes to `recorded` after `previous` at `position`.
    """
    for candidate in candidates:
        trials = [replace(candidate, position=position)]
        if occupant is not None:
            trials.append(replace(occupant, state=candidate.state))
            trials.append(replace(occupant, topic=candidate.topic, state=candidate.state))
        if any(link(previous, trial) == recorded for trial in trials):
            return candidate
    return None


def _in_order(items: list[_P]) -> list[_P]:
    """`items` (events or positions), checked to be in strictly increasing position."""
    positions = [item if isinstance(item, int) else item.position for item in items]
    for before, after in itertools.pairwise(positions):
        if after <= before:
            raise ValueError(f"events must come in increasing position: {after} after {before}")
    return items


def verify_chain(
    events: Iterable[StoredEvent],
    recorded: Recorded,
    *,
    start_hash: bytes = GENESIS,
    progress: Callable[[int], None] | None = None,
) -> Finding | None:
    """The first position where `events` no longer match the `recorded` chain, or None.

    `events` are the store's rows in increasing position (ValueError otherwise),
    starting after the event whose chain hash is `start_hash` (GENESIS: the start of
    the store). `recorded` gives the chain hash recorded for a position (None / absent
    if there is none). `progress` is called with each position found intact.

    The events are walked in order, each linked to the recorded hash of the one
    before. The first problem is classified as:

    * removed   -- a position between two consecutive events (or before the first,
      from a GENESIS start) has a recorded hash: its event is gone. With a Mapping,
      recorded positions after the last event are also reported (so a Mapping must
      cover exactly the events' range; pass a callable to check part of a chain).
      Every position in a gap is looked up: pass a Mapping for long gaps.
    * inserted  -- an event's position has no recorded hash.
    * reordered -- an event does not match its recorded hash, or was removed, but
      the content the chain recorded there is found in one of the next
      REORDER_WINDOW events (both rows' positions swapped, or their topic/state
      swapped): reported at the first of the two positions.
    * altered   -- an event does not match its recorded hash otherwise: its content
      changed (or an earlier event was removed together with its chain row).

    Events after the end of a recorded chain are "inserted": bound the events read
    to the chain's end. This checks the events against the chain; to make sure the
    chain itself was not rewritten, compare its hashes to signed checkpoints.
    """
    lookup: Callable[[int], bytes | None] = (
        recorded.get if isinstance(recorded, Mapping) else recorded
    )
    ahead = _Ahead(events, REORDER_WINDOW)
    previous = start_hash
    previous_position: int | None = 0 if start_hash == GENESIS else None
    while (event := ahead.next()) is not None:
        position = event.position
        if previous_position is not None:
            _in_order([previous_position, position])
            for missing in range(previous_position + 1, position):
                hash_there = lookup(missing)
                if hash_there is None:
                    continue
                window = _in_order([event, *ahead.peek()])
                moved = _belongs_at(previous, missing, hash_there, window)
                if moved is not None:
                    return Finding(
                        missing,
                        "reordered",
                        f"the event recorded at position {missing} is now at {moved.position}",
                    )
                return Finding(
                    missing,
                    "removed",
                    f"the chain records an event at position {missing}; the store has none",
                )
        expected = lookup(position)
        if expected is None:
            return Finding(
                position, "inserted", f"the chain records no event at position {position}"
            )
        if link(previous, event) != expected:
            window = _in_order([event, *ahead.peek()])[1:]
            swapped = _belongs_at(previous, position, expected, window, occupant=event)
            if swapped is not None:
                return Finding(
                    position,
                    "reordered",
                    f"the event recorded at position {position} is now at {swapped.position}",
                )
            return Finding(
                position,
                "altered",
                f"the event at position {position} does not match the hash the chain "
                "recorded for it (its content changed, or an earlier event was removed "
                "with its chain entry)",
            )
        previous, previous_position = expected, position
        if progress is not None:
            progress(position)
    if isinstance(recorded, Mapping) and previous_position is not None:
        after = [p for p in recorded if p > previous_position]
        if after:
            missing = min(after)
            return Finding(
                missing,
                "removed",
                f"the chain records an event at position {missing}; the store has none",
            )
    return None


def _distinct(pairs: Iterable[tuple[int, bytes]]) -> tuple[list[int], dict[int, bytes], int | None]:
    """Order of first appearance, digest by position, first position seen with two digests.

    An exact repeat of a (position, digest) is dropped: a relay that crashed between
    publishing and saving its position publishes a batch again.
    """
    order: list[int] = []
    digests: dict[int, bytes] = {}
    conflict: int | None = None
    for position, digest in pairs:
        seen = digests.get(position)
        if seen is None:
            digests[position] = digest
            order.append(position)
        elif seen != digest and (conflict is None or position < conflict):
            conflict = position
    return order, digests, conflict


def verify_sequence(
    actual: Sequence[tuple[int, bytes]], expected: Sequence[tuple[int, bytes]]
) -> Finding | None:
    """The first position where `actual` differs from `expected`, or None.

    Both are (position, digest) pairs; `expected` is usually the store in position
    order, `actual` a copy (e.g. the topic, in offset order: for a topic of several
    partitions compare each partition with the store's events for it). An exact
    repeat of a pair in `actual` is ignored (republished after a relay crash).
    Problems, reported at the smallest position (content before order on a tie):

    * altered   -- a position with another digest (or two different digests in `actual`)
    * removed   -- a position `expected` has and `actual` lacks
    * inserted  -- a position `actual` has and `expected` lacks
    * reordered -- the pairs both have come in another order: reported at the
      position `expected` has where the two orders first differ.
    """
    expected_order, expected_digests, expected_conflict = _distinct(expected)
    if expected_conflict is not None:
        raise ValueError(f"expected has two digests for position {expected_conflict}")
    actual_order, actual_digests, actual_conflict = _distinct(actual)

    content: Finding | None = None
    for position in sorted(expected_digests.keys() | actual_digests.keys()):
        want, got = expected_digests.get(position), actual_digests.get(position)
        if got is None:
            content = Finding(position, "removed", f"position {position} is missing")
        elif want is None:
            content = Finding(position, "inserted", f"position {position} is not expected")
        elif want != got:
            content = Finding(position, "altered", f"position {position} has another digest")
        elif position == actual_conflict:
            content = Finding(
                position, "altered", f"position {position} appears with two different digests"
            )
        if content is not None:
            break

    same = {
        p
        for p, digest in expected_digests.items()
        if actual_digests.get(p) == digest and p != actual_conflict
    }
    order: Finding | None = None
    for want_position, got_position in zip(
        (p for p in expected_order if p in same),
        (p for p in actual_order if p in same),
        strict=True,
    ):
        if want_position != got_position:
            order = Finding(
                want_position,
                "reordered",
                f"position {got_position} comes where position {want_position} was expected",
            )
            break

    if content is None or (order is not None and order.position < content.position):
        return order
    return content


# ---------------------------------------------------------------------------
# History slices


def _event_json(event: StoredEvent, chain_hash: bytes) -> dict[str, Any]:
    return {
        "position": event.position,
        "originator_id": str(event.originator_id),
        "originator_version": event.originator_version,
        "topic": event.topic,
        "state_b64": base64.b64encode(event.state).decode("ascii"),
        "hash": chain_hash.hex(),
    }


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False) + "\n"


def write_slice(
    path: Path,
    site: str,
    events: Iterable[StoredEvent],
    start_hash: bytes,
    checkpoint: Checkpoint,
) -> int:
    """Write `events` (increasing positions, the last one the checkpoint's) as a slice.

    `start_hash` is the chain hash of the event before the first one (GENESIS at the
    start of the store); `checkpoint` is the signed checkpoint of the last event.
    The events are written as they are: the file is judged by `verify_slice`, not
    here. Written to a temporary file renamed into place. Returns the event count.
    """
    if len(start_hash) != HASH_SIZE:
        raise ValueError(f"start_hash has {HASH_SIZE} bytes")
    if checkpoint.signature is None:
        raise ValueError("the checkpoint of a slice must be signed")
    if checkpoint.site != site:
        raise ValueError(f"the checkpoint is for site {checkpoint.site!r}, not {site!r}")
    iterator = iter(events)
    first = next(iterator, None)
    if first is None:
        raise ValueError("a slice holds at least one event")
    header = {
        "format": SLICE_FORMAT,
        "site": site,
        "from": first.position,
        "to": checkpoint.position,
        "start_hash": start_hash.hex(),
    }
    temporary = path.with_name(path.name + ".tmp")
    count = 0
    try:
        with temporary.open("w", encoding="utf-8", newline="\n") as out:
            out.write(_dumps(header))
            chain_hash = start_hash
            last: int | None = None
            for event in itertools.chain((first,), iterator):
                if last is not None and event.position <= last:
                    raise ValueError(
                        f"events must come in increasing position: {event.position} after {last}"
                    )
                chain_hash = link(chain_hash, event)
                out.write(_dumps(_event_json(event, chain_hash)))
                last = event.position
                count += 1
            if last != checkpoint.position:
                raise ValueError(
                    f"the last event is at {last}, the checkpoint at {checkpoint.position}"
                )
            out.write(_dumps({"checkpoint": checkpoint.to_json()}))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    return count


class _Malformed(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _parse_line(number: int, raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _Malformed(f"line {number} is not JSON: {error}") from error


def _nonblank(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if raw.strip():
                yield number, raw


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _slice_event(number: int, data: Any) -> tuple[StoredEvent, bytes | None]:
    try:
        if not isinstance(data, dict):
            raise TypeError("not an object")
        position, version = data["position"], data["originator_version"]
        topic, state, hint = data["topic"], data["state_b64"], data.get("hash")
        if not (_is_int(position) and _is_int(version) and isinstance(topic, str)):
            raise TypeError("position, originator_version are ints, topic a string")
        if not isinstance(state, str) or not (hint is None or isinstance(hint, str)):
            raise TypeError("state_b64 and hash are strings")
        event = StoredEvent(
            position=position,
            originator_id=UUID(data["originator_id"]),
            originator_version=version,
            topic=topic,
            state=base64.b64decode(state, validate=True),
        )
        return event, None if hint is None else bytes.fromhex(hint)
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as error:
        raise _Malformed(f"line {number} is not an event: {error!r}") from error


def verify_slice(
    path: Path, public_key: Ed25519PublicKey, *, published: Checkpoint | None = None
) -> Finding | None:
    """The first problem in the slice at `path`, or None if it is intact.

    The checkpoint on its last line must be signed by `public_key`, be for the
    header's site and position `to`, and equal the chain recomputed from the
    header's start_hash over the events. A `published` checkpoint (signed by the
    same key, at a position within the slice) must also match the recomputed chain
    at its position. Where the exporter's per-event hashes are present, a change is
    located at the first event that no longer matches them; otherwise it is
    reported at `to`. A file that is not a slice is reported "altered". Raises
    OSError if the file cannot be read and ValueError for a `published` checkpoint
    of another site or outside the slice.
    """
    header_position = 0
    try:
        first = last = None
        for number, raw in _nonblank(path):
            if first is None:
                first = (number, raw)
            last = (number, raw)
        if first is None or last is None:
            return Finding(0, "removed", "the file is empty")
        header = _parse_line(*first)
        if not isinstance(header, dict) or header.get("format") != SLICE_FORMAT:
            raise _Malformed(f"the first line is not a {SLICE_FORMAT} header")
        site, start, end, start_hex = (header.get(k) for k in ("site", "from", "to", "start_hash"))
        if not (isinstance(site, str) and _is_int(start) and _is_int(end)):
            raise _Malformed("the header's site, from or to is missing or mistyped")
        header_position = end
        try:
            start_hash = bytes.fromhex(start_hex) if isinstance(start_hex, str) else b""
        except ValueError:
            start_hash = b""
        if len(start_hash) != HASH_SIZE:
            raise _Malformed("the header's start_hash is not 64 hex digits")
        closing = _parse_line(*last) if last != first else None
        if not isinstance(closing, dict) or set(closing) != {"checkpoint"}:
            return Finding(end, "removed", "the last line is not the checkpoint")
        try:
            checkpoint = Checkpoint.from_json(closing["checkpoint"])
        except (ValueError, TypeError) as error:
            raise _Malformed(f"the checkpoint line is not a checkpoint: {error}") from error
        return _verify_slice_events(
            path, public_key, published, site, start, end, start_hash, checkpoint, first[0], last[0]
        )
    except _Malformed as error:
        return Finding(header_position, "altered", error.detail)


def _verify_slice_events(
    path: Path,
    public_key: Ed25519PublicKey,
    published: Checkpoint | None,
    site: str,
    start: int,
    end: int,
    start_hash: bytes,
    checkpoint: Checkpoint,
    header_line: int,
    checkpoint_line: int,
) -> Finding | None:
    if not check_signature(checkpoint, public_key):
        return Finding(end, "altered", "checkpoint signature does not match the site's key")
    if checkpoint.site != site:
        return Finding(end, "altered", f"the checkpoint is for site {checkpoint.site!r}")
    if checkpoint.position != end:
        return Finding(
            end, "altered", f"the checkpoint is for position {checkpoint.position}, not {end}"
        )
    if published is not None:
        if published.site != site:
            raise ValueError(f"the published checkpoint is for site {published.site!r}")
        if not start <= published.position <= end:
            raise ValueError(f"the published checkpoint is outside positions {start}..{end}")
        if not check_signature(published, public_key):
            return Finding(
                published.position,
                "altered",
                "published checkpoint signature does not match the site's key",
            )

    lines = _Ahead(
        (
            _slice_event(number, _parse_line(number, raw))
            for number, raw in _nonblank(path)
            if header_line < number < checkpoint_line
        ),
        REORDER_WINDOW,
    )
    chain_hash = start_hash
    previous: int | None = None
    while (item := lines.next()) is not None:
        event, hint = item
        position = event.position
        if previous is None and position > start:
            return Finding(start, "removed", f"the slice starts at {position}, not {start}")
        if previous is None and position < start:
            return Finding(position, "inserted", f"position {position} is before {start}")
        if previous is not None and position == previous:
            return Finding(position, "inserted", f"position {position} appears twice")
        if previous is not None and position < previous:
            return Finding(position, "reordered", f"position {position} comes after {previous}")
        if position > end:
            return Finding(position, "inserted", f"position {position} is after {end}")
        if (
            published is not None
            and previous is not None
            and previous < published.position < position
        ):
            return Finding(
                published.position,
                "removed",
                f"the published checkpoint's position {published.position} is not in the slice",
            )
        computed = link(chain_hash, event)
        if hint is not None and hint != computed:
            try:
                ahead = lines.peek()
            except _Malformed:  # reported when the walk reaches it; this change comes first
                ahead = []
            early = [e.position for e, _ in ahead if e.position < position]
            if early:
                return Finding(
                    min(early),
                    "reordered",
                    f"position {min(early)} comes after position {position}",
                )
            if ahead and ahead[0][1] is not None and link(chain_hash, ahead[0][0]) == ahead[0][1]:
                return Finding(
                    position,
                    "inserted",
                    f"position {position} does not belong: the chain continues without it",
                )
            return Finding(
                position,
                "altered",
                f"the event at position {position} does not match its exported hash "
                "(it changed, or an event before it was removed)",
            )
        if published is not None and position == published.position and computed != published.hash:
            return Finding(position, "altered", "the chain does not match the published checkpoint")
        chain_hash, previous = computed, position

    if previous is None:
        return Finding(start, "removed", "the slice holds no events")
    if previous < end:
        return Finding(end, "removed", f"the slice ends at {previous}, not {end}")
    if chain_hash != checkpoint.hash:
        return Finding(
            end,
            "altered",
            "the events do not chain to the checkpoint's hash: something in the slice "
            "changed (its exported hashes were recomputed, so the place is unknown)",
        )
    return None
