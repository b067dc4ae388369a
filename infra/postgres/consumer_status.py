"""Records what the consumers dead-lettered and which partitions' batches keep failing
(tables `consumer_errors` and `consumer_stuck`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg


def _storable(error: str) -> str:
    """An error's text as a text column can hold it: no NUL (an error may quote the value
    that caused it), at most 2000 characters."""
    return error.replace("\x00", "\\x00")[:2000]


async def record_errors(
    conn: psycopg.AsyncConnection[Any], consumer: str, errors: Sequence[tuple[str, int, int, str]]
) -> None:
    """What was dead-lettered and why, for `lead projections status` (in the caller's
    transaction: `apply_targets(..., then=...)`)."""
    if errors:
        await conn.cursor().executemany(
            'INSERT INTO consumer_errors (consumer, topic, partition, "offset", error) '
            "VALUES (%s, %s, %s, %s, %s)",
            [
                (consumer, topic, part, offset, _storable(error))
                for topic, part, offset, error in errors
            ],
        )


async def mark_stuck(
    conn: psycopg.AsyncConnection[Any],
    consumer: str,
    partitions: Sequence[tuple[str, int]],
    error: str,
) -> None:
    """Partitions whose batch failed and is being tried again, for `/readyz`, `/metrics`
    and `lead projections status`: since when (the first failure), how often, the last error."""
    await conn.execute(
        "INSERT INTO consumer_stuck AS s (consumer, topic, partition, error) "
        "SELECT %s, t, p, %s FROM unnest(%s::text[], %s::int[]) AS u(t, p) "
        "ON CONFLICT (consumer, topic, partition) DO UPDATE SET error = EXCLUDED.error, "
        "failures = s.failures + 1, updated_at = now()",
        (consumer, _storable(error), [t for t, _ in partitions], [p for _, p in partitions]),
    )


async def clear_stuck(
    conn: psycopg.AsyncConnection[Any], consumer: str, partitions: Sequence[tuple[str, int]]
) -> None:
    """The partitions' batches went through: they are not stuck (in the caller's
    transaction, when it is the batch's)."""
    if partitions:
        await conn.execute(
            "DELETE FROM consumer_stuck WHERE consumer = %s AND (topic, partition) IN "
            "(SELECT * FROM unnest(%s::text[], %s::int[]))",
            (consumer, [t for t, _ in partitions], [p for _, p in partitions]),
        )
