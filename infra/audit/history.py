"""The history's integrity in PostgreSQL and on Kafka: the chain trigger, checkpoints, verification.

The pure rules are in `infra.audit.chain`, `infra.audit.verification` and
`infra.audit.slices`, the trigger's SQL in `infra.postgres.chain_trigger`; this module
reads the store and the topic, keeps the signed checkpoints (table `chain_checkpoints`,
and on `lead.audit.v1`), and answers `lead audit verify|checkpoint|export`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from psycopg import sql

from events.envelope import CloudEvent, EnvelopeError
from infra.audit.chain import GENESIS, Checkpoint, StoredEvent, check_signature, sign
from infra.audit.signing_keys import generate_private_key_pem, load_private_key
from infra.audit.slices import write_slice
from infra.audit.verification import Finding, verify_chain, verify_sequence
from infra.postgres.chain_trigger import CHAIN_BACKFILL_SQL, CHAIN_SQL

CHECKPOINTS_DDL = """
CREATE TABLE IF NOT EXISTS chain_checkpoints (
    position bigint PRIMARY KEY,
    hash bytea NOT NULL,
    at timestamptz NOT NULL,
    site text NOT NULL,
    signature bytea NOT NULL
)
"""

CHECKPOINT_TYPE = "org.lead.chain.checkpoint.v1"

Progress = Callable[[int], None]


def signing_key(path: Path, *, create: bool) -> Ed25519PrivateKey:
    """The site's Ed25519 key; a development stack makes one on first start."""
    if not path.exists():
        if not create:
            raise FileNotFoundError(
                f"no site signing key at {path}: set LEAD_SIGNING_KEY_FILE to the site's key"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_bytes(generate_private_key_pem())
    return load_private_key(path.read_bytes())


def install_chain(conn: psycopg.Connection[Any], events_table: str) -> None:
    """The trigger that chains every inserted event, and the chain of what is stored."""
    table = sql.Identifier(events_table).as_string(conn)
    with conn.transaction():
        conn.execute(sql.SQL(CHAIN_SQL.format(events_table=table)))
        conn.execute(sql.SQL(CHAIN_BACKFILL_SQL.format(events_table=table)))
        conn.execute(CHECKPOINTS_DDL)


class ChainHistory:
    def __init__(
        self,
        dsn: str,
        events_table: str,
        site: str,
        key: Ed25519PrivateKey | None,
        published: Callable[[StoredEvent], bytes] | None = None,
    ) -> None:
        self.dsn = dsn
        self.events_table = events_table
        self.site = site
        self.key = key
        self.published = published  # the CloudEvent bytes the relay sends for an event

    @property
    def public_key(self) -> Ed25519PublicKey:
        assert self.key is not None, "no signing key"
        return self.key.public_key()

    # -- reading the store ------------------------------------------------------------
    def events(
        self, conn: psycopg.Connection[Any], start: int = 0, end: int | None = None
    ) -> Iterator[StoredEvent]:
        query = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {} WHERE notification_id >= %s AND notification_id <= %s "
            "ORDER BY notification_id"
        ).format(sql.Identifier(self.events_table))
        with conn.cursor(name="history") as cur:
            cur.itersize = 2000
            cur.execute(query, (start, end if end is not None else 2**62))
            for position, originator_id, version, topic, state in cur:
                yield StoredEvent(
                    int(position), UUID(str(originator_id)), int(version), topic, bytes(state)
                )

    def recorded(
        self, conn: psycopg.Connection[Any], start: int = 0, end: int | None = None
    ) -> dict[int, bytes]:
        rows = conn.execute(
            "SELECT position, hash FROM event_chain WHERE position >= %s AND position <= %s",
            (start, end if end is not None else 2**62),
        ).fetchall()
        return {int(p): bytes(h) for p, h in rows}

    def hash_before(self, conn: psycopg.Connection[Any], position: int) -> bytes:
        row = conn.execute(
            "SELECT hash FROM event_chain WHERE position < %s ORDER BY position DESC LIMIT 1",
            (position,),
        ).fetchone()
        return bytes(row[0]) if row else GENESIS

    def head(self, conn: psycopg.Connection[Any]) -> tuple[int, bytes] | None:
        row = conn.execute(
            "SELECT position, hash FROM event_chain ORDER BY position DESC LIMIT 1"
        ).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    # -- checkpoints -----------------------------------------------------------------
    def checkpoint(self, at: datetime | None = None, position: int | None = None) -> Checkpoint:
        """A signed checkpoint of the chain's end (or of `position`), kept in the store."""
        assert self.key is not None, "no signing key"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            if position is None:
                found = self.head(conn)
            else:
                row = conn.execute(
                    "SELECT position, hash FROM event_chain WHERE position = %s", (position,)
                ).fetchone()
                found = (int(row[0]), bytes(row[1])) if row else None
            if found is None:
                raise LookupError("nothing is chained yet (no events, or no such position)")
            checkpoint = sign(
                Checkpoint(found[0], found[1], at or datetime.now(UTC), self.site), self.key
            )
            assert checkpoint.signature is not None
            conn.execute(
                "INSERT INTO chain_checkpoints (position, hash, at, site, signature) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (position) DO NOTHING",
                (
                    checkpoint.position,
                    checkpoint.hash,
                    checkpoint.at,
                    self.site,
                    checkpoint.signature,
                ),
            )
        return checkpoint

    @staticmethod
    def as_record(checkpoint: Checkpoint, source: str) -> CloudEvent:
        """A checkpoint for `lead.audit.v1`."""
        return CloudEvent(
            id=f"checkpoint:{checkpoint.site}:{checkpoint.position}",
            source=source,
            type=CHECKPOINT_TYPE,
            subject=None,
            time=checkpoint.at,
            data=checkpoint.to_json(),
        )

    def stored_checkpoints(self, conn: psycopg.Connection[Any]) -> list[Checkpoint]:
        rows = conn.execute(
            "SELECT position, hash, at, site, signature FROM chain_checkpoints ORDER BY position"
        ).fetchall()
        return [Checkpoint(int(p), bytes(h), a, s, bytes(g)) for p, h, a, s, g in rows]

    # -- verification ----------------------------------------------------------------
    def verify_store(
        self, start: int = 0, end: int | None = None, progress: Progress | None = None
    ) -> tuple[Finding | None, int]:
        """The first event that no longer matches the chain, and how many were checked."""
        seen = 0

        def counted(position: int) -> None:
            nonlocal seen
            seen += 1
            if progress:
                progress(position)

        with psycopg.connect(self.dsn) as conn:
            recorded = self.recorded(conn, start, end)
            finding = verify_chain(
                self.events(conn, start, end),
                recorded,
                start_hash=self.hash_before(conn, start) if start > 0 else GENESIS,
                progress=counted,
            )
        return finding, seen

    def verify_checkpoints(
        self, published: list[Checkpoint], public_key: Ed25519PublicKey
    ) -> tuple[Finding | None, int]:
        """Each checkpoint (kept or published) is signed by the site and matches the chain."""
        with psycopg.connect(self.dsn) as conn:
            kept = self.stored_checkpoints(conn)
            chain = self.recorded(conn)
        checked = 0
        for checkpoint in sorted([*kept, *published], key=lambda c: c.position):
            checked += 1
            if not check_signature(checkpoint, public_key):
                return Finding(
                    checkpoint.position, "altered", "checkpoint signature does not match the key"
                ), checked
            if chain.get(checkpoint.position) != checkpoint.hash:
                return Finding(
                    checkpoint.position,
                    "altered",
                    "the chain no longer has the hash this checkpoint signed",
                ), checked
        return None, checked

    def store_digests(self, start: int = 0, end: int | None = None) -> dict[int, bytes]:
        """Position -> digest of the CloudEvent the relay publishes for that stored event."""
        assert self.published is not None, "no way to make the published bytes"
        with psycopg.connect(self.dsn) as conn:
            return {
                e.position: hashlib.sha256(self.published(e)).digest()
                for e in self.events(conn, start, end)
            }


def topic_sequence(
    messages: Iterator[tuple[int, int, bytes]],
) -> tuple[dict[int, list[tuple[int, bytes]]], int]:
    """Per partition, (position, digest) of each CloudEvent in offset order; junk skipped."""
    per_partition: dict[int, list[tuple[int, bytes]]] = {}
    count = 0
    for partition, _offset, value in messages:
        try:
            message = CloudEvent.from_json(value)
        except (EnvelopeError, ValueError, KeyError):
            continue  # not an event (dead-lettered by the consumers)
        if message.sequence is None:
            continue
        count += 1
        per_partition.setdefault(partition, []).append(
            (message.position, hashlib.sha256(value).digest())
        )
    return per_partition, count


def verify_topic_copy(
    per_partition: dict[int, list[tuple[int, bytes]]], store: dict[int, bytes]
) -> Finding | None:
    """The topic holds each stored event, unaltered, and each partition in store order."""
    seen_positions = {p for pairs in per_partition.values() for p, _ in pairs}
    findings: list[Finding] = []
    for pairs in per_partition.values():
        positions = {p for p, _ in pairs}
        expected = sorted((p, d) for p, d in store.items() if p in positions)
        found = verify_sequence(pairs, expected)
        if found is not None:
            findings.append(found)
    missing = sorted(set(store) - seen_positions)
    if missing:
        findings.append(Finding(missing[0], "removed", "the topic lacks this stored event"))
    extra = sorted(seen_positions - set(store))
    if extra:
        findings.append(Finding(extra[0], "inserted", "the topic has an event the store lacks"))
    return min(findings, key=lambda f: f.position) if findings else None


def export_slice(
    history: ChainHistory, path: Path, start: int, end: int | None = None
) -> tuple[int, Checkpoint]:
    """Events start..end (default: the chain's end) and a signed checkpoint of the last."""
    with psycopg.connect(history.dsn) as conn:
        events = list(history.events(conn, start, end))
        if not events:
            raise LookupError(f"no events from position {start}")
        start_hash = history.hash_before(conn, events[0].position)
    checkpoint = history.checkpoint(position=events[-1].position)
    count = write_slice(path, history.site, events, start_hash, checkpoint)
    return count, checkpoint
