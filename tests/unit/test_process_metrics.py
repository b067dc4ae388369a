"""The registry the relay and each worker serve (infra/readside/metrics.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from infra.readside.metrics import (
    Counters,
    Gauges,
    ReadSideCollector,
    WorkerCounters,
    age_seconds,
)
from tests.unit.test_telemetry import samples, value


def render(registry: CollectorRegistry) -> list:  # type: ignore[type-arg]
    return samples(generate_latest(registry).decode())


def gauges(**more: object) -> Gauges:
    return Gauges(
        events_appended=lambda: 120,
        relay_position=lambda: 100,
        projection_lag=lambda: {"referrals": 7, "queue": 0},
        **more,  # type: ignore[arg-type]
    )


def test_the_ages_of_what_waits_are_shown_per_projection_and_for_the_relay() -> None:
    registry = CollectorRegistry()
    registry.register(
        ReadSideCollector(
            gauges(
                relay_lag_seconds=lambda: 4.5,
                projection_lag_seconds=lambda: {"referrals": 12.25, "queue": 0.0},
            )
        )
    )
    found = render(registry)
    assert value(found, "lead_relay_lag") == 20
    assert value(found, "lead_relay_lag_seconds") == 4.5
    assert value(found, "lead_projection_lag", projection="referrals") == 7
    assert value(found, "lead_projection_lag_seconds", projection="referrals") == 12.25
    assert value(found, "lead_projection_lag_seconds", projection="queue") == 0


def test_an_age_that_cannot_be_read_is_left_out_and_counted_the_rest_is_served() -> None:
    def kafka_away() -> dict[str, float]:
        raise ConnectionError("no broker")

    registry = CollectorRegistry()
    registry.register(ReadSideCollector(gauges(projection_lag_seconds=kafka_away)))
    for _ in range(2):
        found = render(registry)
    assert value(found, "lead_projection_lag_seconds", projection="referrals") is None
    assert value(found, "lead_projection_lag", projection="referrals") == 7
    assert value(found, "lead_scrape_errors_total", source="projection_lag_seconds") == 2


def test_without_the_ages_there_are_no_such_metrics() -> None:
    registry = CollectorRegistry()
    registry.register(ReadSideCollector(gauges()))
    names = {s.name for s in render(registry)}
    assert "lead_relay_lag" in names
    assert not {"lead_relay_lag_seconds", "lead_projection_lag_seconds"} & names


def test_the_relays_counters_and_a_workers_are_read_as_they_stand() -> None:
    published = [0]
    registry = CollectorRegistry()
    registry.register(Counters({"lead_relay_published": ("acknowledged", lambda: published[0])}))
    worker = WorkerCounters(registry)
    published[0] = 500
    worker.batch("lead-projections", 200, 0.05)
    worker.batch("lead-projections", 300, 0.07)
    worker.dead_letter("lead-audit-trail")
    found = render(registry)
    assert value(found, "lead_relay_published_total") == 500
    assert value(found, "lead_worker_batches_total", consumer="lead-projections") == 2
    assert value(found, "lead_worker_messages_total", consumer="lead-projections") == 500
    assert value(found, "lead_worker_dead_letters_total", consumer="lead-audit-trail") == 1
    assert value(found, "lead_worker_batch_seconds_count", consumer="lead-projections") == 2


def test_age_seconds() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert age_seconds(None, now) == 0
    assert age_seconds(now - timedelta(seconds=90), now) == 90
    assert age_seconds(now + timedelta(seconds=5), now) == 0  # a clock ahead: not negative
