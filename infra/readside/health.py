"""Figures for `/readyz` and `/metrics`: PostgreSQL, Kafka, the relay, each projection,
and the workers' stuck partitions and dead letters."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import ConnectionPool

from events.topics import EVENTS
from infra.readside.metrics import age_seconds
from infra.readside.status import (
    ConsumerErrors,
    RebuildProgress,
    Stuck,
    consumer_errors,
    rebuilds,
    stuck_partitions,
)


class Health:
    def __init__(
        self,
        pool: ConnectionPool[Any],
        ends: Callable[[], dict[int, int]],
        projections: Sequence[str],
        *,
        max_lag: int,
    ) -> None:
        self.pool = pool
        self.ends = ends
        self.projections = list(projections)
        self.max_lag = max_lag

    def relay_position(self) -> int:
        with self.pool.connection() as conn:
            found = conn.execute(
                "SELECT coalesce(max(position), 0) FROM relay_positions"
            ).fetchone()
        return int(found[0]) if found else 0

    def _applied(self) -> dict[str, dict[int, int]]:
        """Per projection: the last offset of each partition of `lead.events.v1` applied."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                'SELECT projection, partition, "offset" FROM projection_positions '
                "WHERE topic = %s AND projection = ANY(%s)",
                (EVENTS, self.projections),
            ).fetchall()
        applied: dict[str, dict[int, int]] = {p: {} for p in self.projections}
        for projection, partition, offset in rows:
            applied[projection][int(partition)] = int(offset)
        return applied

    def projection_lag(self) -> dict[str, int]:
        """Per projection: messages on `lead.events.v1` not yet applied."""
        ends = self.ends()
        return {
            name: sum(max(0, end - (done.get(p, -1) + 1)) for p, end in ends.items())
            for name, done in self._applied().items()
        }

    def projection_lag_seconds(
        self, times: Callable[[Iterable[tuple[int, int]]], Mapping[tuple[int, int], datetime]]
    ) -> dict[str, float]:
        """Per projection: the age of the oldest message it has not applied (0: caught up),
        from the messages' Kafka timestamps (`times`: (partition, offset) -> when)."""
        ends = self.ends()
        applied = self._applied()
        waiting = {
            name: [(p, done.get(p, -1) + 1) for p, end in ends.items() if done.get(p, -1) + 1 < end]
            for name, done in applied.items()
        }
        found = times({w for ws in waiting.values() for w in ws})
        now = datetime.now(UTC)
        return {
            name: max((age_seconds(found[w], now) for w in ws if w in found), default=0.0)
            for name, ws in waiting.items()
        }

    def stuck(self) -> list[Stuck]:
        """Partitions whose batch is failing and being tried again, by any worker."""
        with self.pool.connection() as conn:
            return stuck_partitions(conn)

    def consumer_errors(self) -> list[ConsumerErrors]:
        """Per consumer: how many messages it dead-lettered, and the last error."""
        with self.pool.connection() as conn:
            return consumer_errors(conn)

    def rebuilds(self) -> list[RebuildProgress]:
        """The rebuilds running, and those finished within the last day."""
        with self.pool.connection() as conn:
            return rebuilds(conn)

    def readiness(self) -> dict[str, Any]:
        """Ready: PostgreSQL and Kafka answer, no projection is further behind than
        `max_lag`, and no worker is stuck on a batch; otherwise `reason` says why."""
        checks: dict[str, Any] = {}
        try:
            with self.pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
            checks["postgresql"] = "ok"
        except Exception as exc:
            checks["postgresql"] = f"unavailable: {type(exc).__name__}"
        try:
            self.ends()
            checks["kafka"] = "ok"
        except Exception as exc:
            checks["kafka"] = f"unavailable: {type(exc).__name__}"
        lag: dict[str, int] | None = None
        stuck: list[Stuck] | None = None
        if checks["postgresql"] == "ok" and checks["kafka"] == "ok":
            lag = self.projection_lag()
            checks["projection_lag"] = lag
        if checks["postgresql"] == "ok":
            try:
                stuck = self.stuck()
            except Exception as exc:  # say, a schema older than the code: `lead infra up`
                checks["stuck"] = f"unavailable: {type(exc).__name__}"
        if stuck is not None:
            checks["stuck"] = [
                {
                    "consumer": s.consumer,
                    "topic": s.topic,
                    "partition": s.partition,
                    "since": s.since.isoformat(),
                    "failures": s.failures,
                    "error": s.error,
                }
                for s in stuck
            ]
        behind = lag is None or any(v > self.max_lag for v in lag.values())
        checks["ready"] = (
            checks["postgresql"] == "ok" and checks["kafka"] == "ok" and not behind and stuck == []
        )
        reasons = []
        if lag is not None and behind:
            reasons.append(f"a projection is more than {self.max_lag} messages behind")
        reasons.extend(
            f"{s.consumer} {s.topic}[{s.partition}] stuck since {s.since.isoformat()} "
            f"({s.failures} failures)"
            for s in stuck or ()
        )
        if reasons:
            checks["reason"] = "; ".join(reasons)
        return checks
