"""Stuck partitions and dead letters show in /readyz and /metrics (infra/readside/health.py,
services/http/telemetry.py), read from the tables the workers keep."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.readside.health import Health
from infra.readside.status import ConsumerErrors, Stuck
from services.http.telemetry import Gauges, Telemetry
from tests.unit.test_telemetry import samples, value

NOW = datetime.now(UTC)
STUCK = Stuck(
    "lead-projections",
    "lead.events.v1",
    2,
    NOW - timedelta(seconds=90),
    7,
    "DiskFull [53100]: could not extend file",
)
ERRORS = ConsumerErrors(
    "lead-projections",
    3,
    NOW - timedelta(seconds=5),
    "UntranslatableCharacter [22P05]: unsupported Unicode escape sequence",
)


class FakeConnection:
    """Answers the queries `Health` sends, from fixed rows."""

    def __init__(self, stuck: list[Stuck]) -> None:
        self.stuck = stuck
        self.rows: list[tuple[Any, ...]] = []

    def execute(self, query: str, params: Any = None) -> FakeConnection:
        if "FROM consumer_stuck" in query:
            self.rows = [
                (s.consumer, s.topic, s.partition, s.since, s.failures, s.error) for s in self.stuck
            ]
        elif "FROM projection_positions" in query:
            self.rows = [("referrals", 0, 9)]
        else:
            self.rows = [(1,)]
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


class FakePool:
    def __init__(self, stuck: list[Stuck]) -> None:
        self.stuck = stuck

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[FakeConnection]:
        yield FakeConnection(self.stuck)


def health(stuck: list[Stuck]) -> Health:
    return Health(FakePool(stuck), lambda: {0: 10}, ["referrals"], max_lag=100)  # type: ignore[arg-type]


def test_readyz_is_not_ready_while_a_partition_is_stuck_and_names_it() -> None:
    checks = health([STUCK]).readiness()
    assert checks["ready"] is False
    assert checks["projection_lag"] == {"referrals": 0}
    assert "lead-projections lead.events.v1[2] stuck since" in checks["reason"]
    assert "(7 failures)" in checks["reason"]
    assert checks["stuck"] == [
        {
            "consumer": "lead-projections",
            "topic": "lead.events.v1",
            "partition": 2,
            "since": STUCK.since.isoformat(),
            "failures": 7,
            "error": STUCK.error,
        }
    ]


def test_readyz_is_ready_when_nothing_is_stuck_or_behind() -> None:
    checks = health([]).readiness()
    assert checks["ready"] is True and checks["stuck"] == [] and "reason" not in checks


def test_metrics_show_stuck_partitions_and_dead_letters_with_the_error_type() -> None:
    telemetry = Telemetry(
        Gauges(
            events_appended=lambda: 1,
            relay_position=lambda: 1,
            projection_lag=dict,
            stuck=lambda: [STUCK],
            consumer_errors=lambda: [ERRORS],
        )
    )
    found = samples(telemetry.render()[0].decode())
    labels = {
        "consumer": "lead-projections",
        "topic": "lead.events.v1",
        "partition": "2",
        "error": "DiskFull [53100]",
    }
    seconds = value(found, "lead_consumer_stuck_seconds", **labels)
    assert seconds is not None
    assert seconds == pytest.approx((datetime.now(UTC) - STUCK.since).total_seconds(), abs=5)
    assert value(found, "lead_consumer_stuck_failures", **labels) == 7
    assert value(found, "lead_consumer_dead_letters_total", consumer="lead-projections") == 3
    last = value(
        found,
        "lead_consumer_last_error_timestamp_seconds",
        consumer="lead-projections",
        error="UntranslatableCharacter [22P05]",
    )
    assert last == ERRORS.last_at.timestamp()
    for source in ("stuck", "consumer_errors"):
        assert value(found, "lead_scrape_errors_total", source=source) == 0


def test_nothing_stuck_exports_no_stuck_sample_and_a_failing_read_counts_an_error() -> None:
    def down() -> list[Stuck]:
        raise ConnectionError("database down")

    quiet = Telemetry(
        Gauges(lambda: 1, lambda: 1, dict, stuck=list, consumer_errors=list)
    ).render()[0]
    assert b"lead_consumer_stuck_seconds{" not in quiet
    found = samples(Telemetry(Gauges(lambda: 1, lambda: 1, dict, stuck=down)).render()[0].decode())
    assert value(found, "lead_scrape_errors_total", source="stuck") == 1
    assert value(found, "lead_events_appended") == 1
