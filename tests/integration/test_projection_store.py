"""Projection rows and their Kafka position in one PostgreSQL transaction."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest

from infra.postgres.projection_store import Behind, Delivered, apply_batch, apply_message
from infra.settings import Settings
from projections.base import Upsert

pytestmark = pytest.mark.integration


def row(referral_id: uuid.UUID, version: int, status: str) -> Upsert:
    return Upsert(
        "referrals",
        key={"referral_id": referral_id},
        version=version,
        values={
            "person_id": uuid.uuid4(),
            "pathway": "community",
            "status": status,
            "referrer_principal": "p",
            "referrer_organisation": "o",
            "offense_code": "c",
            "offense_description": "d",
            "nibrs_code": None,
            "received_at": "2026-01-01T00:00:00Z",
            "recorded_at": "2026-01-01T00:00:00Z",
            "position": version,
        },
    )


async def status_of(conn: psycopg.AsyncConnection[Any], referral_id: uuid.UUID) -> str | None:
    cur = await conn.execute(
        "SELECT status FROM proj_referrals.referrals WHERE referral_id = %s", (referral_id,)
    )
    found = await cur.fetchone()
    return found[0] if found else None


def test_a_redelivered_offset_changes_nothing(settings: Settings) -> None:
    asyncio.run(redelivered(settings))


async def redelivered(settings: Settings) -> None:
    topic = f"t-{uuid.uuid4()}"
    rid = uuid.uuid4()
    async with await psycopg.AsyncConnection.connect(settings.dsn, autocommit=True) as conn:
        assert await apply_message(conn, "referrals", topic, 0, 10, [row(rid, 1, "received")])
        assert not await apply_message(conn, "referrals", topic, 0, 10, [row(rid, 2, "changed")])
        assert not await apply_message(conn, "referrals", topic, 0, 9, [row(rid, 3, "older")])
        assert await status_of(conn, rid) == "received"


def test_a_batch_applies_only_what_is_new_per_partition(settings: Settings) -> None:
    asyncio.run(batch(settings))


async def batch(settings: Settings) -> None:
    topic = f"t-{uuid.uuid4()}"
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with await psycopg.AsyncConnection.connect(settings.dsn, autocommit=True) as conn:
        await apply_message(conn, "referrals", topic, 0, 5, [row(a, 1, "first")])
        applied = await apply_batch(
            conn,
            "referrals",
            [
                Delivered(topic, 0, 5, [row(a, 2, "redelivered")]),
                Delivered(topic, 0, 6, [row(b, 1, "new on p0")]),
                Delivered(topic, 1, 0, [row(c, 1, "new on p1")]),
            ],
        )
        assert applied == 2
        assert await status_of(conn, a) == "first"
        assert await status_of(conn, b) == "new on p0"
        assert await status_of(conn, c) == "new on p1"


def test_a_republished_older_event_does_not_overwrite_a_newer_row(settings: Settings) -> None:
    asyncio.run(republished(settings))


async def republished(settings: Settings) -> None:
    topic = f"t-{uuid.uuid4()}"
    rid = uuid.uuid4()
    async with await psycopg.AsyncConnection.connect(settings.dsn, autocommit=True) as conn:
        await apply_message(conn, "referrals", topic, 0, 1, [row(rid, 2, "newer")])
        assert await apply_message(conn, "referrals", topic, 0, 2, [row(rid, 1, "older copy")])
        assert await status_of(conn, rid) == "newer"


def test_a_batch_above_offsets_not_stored_is_refused_whole_until_they_are(
    settings: Settings,
) -> None:
    asyncio.run(behind(settings))


async def behind(settings: Settings) -> None:
    topic = f"t-{uuid.uuid4()}"
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with await psycopg.AsyncConnection.connect(settings.dsn, autocommit=True) as conn:
        await apply_message(conn, "referrals", topic, 0, 2, [row(a, 1, "stored")])
        batch = [Delivered(topic, 0, 5, [row(b, 1, "above a gap")])]
        with pytest.raises(Behind) as refused:
            await apply_batch(conn, "referrals", batch, starts={(topic, 0): 5})
        assert refused.value.missing == {(topic, 0): (3, 5)}  # offsets 3 and 4
        assert await status_of(conn, b) is None  # nothing of the batch applied
        # The same connection goes on: the gap first, then the batch.
        await apply_batch(
            conn,
            "referrals",
            [Delivered(topic, 0, 3, [row(c, 1, "gap")]), Delivered(topic, 0, 4, [])],
            starts={(topic, 0): 3},
        )
        assert await apply_batch(conn, "referrals", batch, starts={(topic, 0): 5}) == 1
        assert await status_of(conn, c) == "gap"
        assert await status_of(conn, b) == "above a gap"
