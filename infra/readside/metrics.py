"""Prometheus metrics every long-running process exports: the API, the relay, each worker.

Each process keeps its own `CollectorRegistry` (nothing in `prometheus_client.REGISTRY`),
so tests can run several in one interpreter. What every registry has, read when scraped
from the `Gauges` callables (`ReadSideCollector`):

- `lead_events_appended`: the event store's highest position;
- `lead_relay_position`, `lead_relay_lag` (events appended, not yet published) and, when
  given, `lead_relay_lag_seconds` (the age of the oldest event not yet published; 0 when
  the relay is caught up);
- `lead_projection_lag{projection}` (messages on `lead.events.v1` not yet applied) and,
  when given, `lead_projection_lag_seconds{projection}` (the age of the oldest of them);
- when given, the workers' trouble: `lead_consumer_stuck_seconds` /
  `lead_consumer_stuck_failures{consumer, topic, partition, error}`,
  `lead_consumer_dead_letters_total{consumer}` and
  `lead_consumer_last_error_timestamp_seconds{consumer, error}`;
- `lead_scrape_errors_total{source}`: how often reading one of those callables raised
  (a callable that raises only loses its own figures; the scrape still succeeds).

Labels never carry a person's id or name: projections, consumers, topics, partitions
and error *types* only.

The relay adds `lead_relay_published_total`, `lead_relay_batches_total` and
`lead_relay_failures_total` (`Counters`); each worker `lead_worker_batches_total`,
`lead_worker_messages_total`, `lead_worker_dead_letters_total{consumer}` and
`lead_worker_batch_seconds{consumer}` (`WorkerCounters`). `serve` puts a registry on
its own HTTP port (`GET /metrics`), for the processes that have no web server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from infra.readside.status import ConsumerErrors, RebuildProgress, Stuck

logger = logging.getLogger(__name__)

BATCH_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Gauges:
    """Figures read at scrape time. Each callable may raise: its metrics are then left
    out of that scrape, and `lead_scrape_errors_total{source=<field name>}` goes up."""

    events_appended: Callable[[], int]
    """The event store's highest position."""
    relay_position: Callable[[], int]
    """The position the outbox relay has published up to."""
    projection_lag: Callable[[], Mapping[str, int]]
    """Per projection: how many messages it is behind the end of its topic."""
    stuck: Callable[[], Sequence[Stuck]] | None = None
    """Partitions whose batch is failing and being tried again."""
    consumer_errors: Callable[[], Sequence[ConsumerErrors]] | None = None
    """Per consumer: the messages it dead-lettered, and the last error."""
    relay_lag_seconds: Callable[[], float] | None = None
    """The age of the oldest event the relay has not yet published (0: caught up)."""
    projection_lag_seconds: Callable[[], Mapping[str, float]] | None = None
    """Per projection: the age of the oldest message it has not yet applied."""
    rebuilds: Callable[[], Sequence[RebuildProgress]] | None = None
    """The rebuilds running (and those finished within the day), with their progress."""


class ReadSideCollector(Collector):
    """Reads the `Gauges` callables on every scrape, and counts those that raise."""

    SOURCES: Final = ("events_appended", "relay_position", "projection_lag")
    WORKERS: Final = ("stuck", "consumer_errors", "rebuilds")  # optional fields of `Gauges`
    AGES: Final = ("relay_lag_seconds", "projection_lag_seconds")  # optional too

    def __init__(self, gauges: Gauges) -> None:
        self.gauges = gauges
        self._lock = threading.Lock()
        given = [s for s in (*self.WORKERS, *self.AGES) if getattr(gauges, s) is not None]
        self._errors = dict.fromkeys((*self.SOURCES, *given), 0)

    def describe(self) -> Iterator[Metric]:
        """The metric names, so that the registry checks for clashes without reading
        the callables when the collector is registered."""
        yield from self._families(None, None, None)
        yield from self._workers(None, None)
        yield from self._ages(None, None)
        yield from self._rebuilds(None)

    def collect(self) -> Iterator[Metric]:
        appended = self._read("events_appended", lambda: int(self.gauges.events_appended()))
        relayed = self._read("relay_position", lambda: int(self.gauges.relay_position()))
        lag = self._read(
            "projection_lag",
            lambda: {str(k): int(v) for k, v in self.gauges.projection_lag().items()},
        )
        stuck, errors = self.gauges.stuck, self.gauges.consumer_errors
        stuck_now = self._read("stuck", lambda: list(stuck())) if stuck else None
        errors_now = self._read("consumer_errors", lambda: list(errors())) if errors else None
        building = self.gauges.rebuilds
        rebuilds_now = self._read("rebuilds", lambda: list(building())) if building else None
        relay_age, lag_age = self.gauges.relay_lag_seconds, self.gauges.projection_lag_seconds
        relay_age_now = self._read("relay_lag_seconds", relay_age) if relay_age else None
        lag_age_now = self._read("projection_lag_seconds", lag_age) if lag_age else None
        yield from self._families(appended, relayed, lag)  # after every read: counts errors
        yield from self._workers(stuck_now, errors_now)
        yield from self._ages(relay_age_now, lag_age_now)
        yield from self._rebuilds(rebuilds_now)

    def _rebuilds(self, found: Sequence[RebuildProgress] | None) -> Iterator[Metric]:
        """How far each rebuild has got (`lead projections rebuild`, run anywhere)."""
        if self.gauges.rebuilds is None:
            return
        labels = ["projection", "schema"]
        ratio = GaugeMetricFamily(
            "lead_rebuild_progress_ratio",
            "How far a rebuild has got: messages applied over the messages to replay.",
            labels=labels,
        )
        remaining = GaugeMetricFamily(
            "lead_rebuild_messages_remaining",
            "Messages a rebuild has still to replay (0 once done).",
            labels=labels,
        )
        running = GaugeMetricFamily(
            "lead_rebuild_running",
            "1 while a rebuild runs, 0 once it finished (shown for a day after).",
            labels=labels,
        )
        for r in found or ():
            values = [r.projection, r.schema]
            ratio.add_metric(values, r.ratio)
            remaining.add_metric(values, max(r.total - r.done, 0))
            running.add_metric(values, 0 if r.finished else 1)
        yield ratio
        yield remaining
        yield running

    def _ages(self, relay: float | None, lag: Mapping[str, float] | None) -> Iterator[Metric]:
        """How old the oldest waiting event is, at the relay and at each projection."""
        if self.gauges.relay_lag_seconds is not None:
            relay_age = GaugeMetricFamily(
                "lead_relay_lag_seconds",
                "Age of the oldest event appended but not yet published (0: caught up).",
            )
            if relay is not None:
                relay_age.add_metric([], max(float(relay), 0.0))
            yield relay_age
        if self.gauges.projection_lag_seconds is not None:
            ages = GaugeMetricFamily(
                "lead_projection_lag_seconds",
                "Age of the oldest message a projection has not yet applied (0: caught up).",
                labels=["projection"],
            )
            for name, age in sorted((lag or {}).items()):
                ages.add_metric([str(name)], max(float(age), 0.0))
            yield ages

    def _read(self, source: str, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception:
            logger.warning("metrics: reading %s failed", source, exc_info=True)
            with self._lock:
                self._errors[source] += 1
            return None

    def _families(
        self, appended: int | None, relayed: int | None, lag: Mapping[str, int] | None
    ) -> Iterator[Metric]:
        events = GaugeMetricFamily("lead_events_appended", "The event store's highest position.")
        if appended is not None:
            events.add_metric([], appended)
        yield events
        relay = GaugeMetricFamily(
            "lead_relay_position", "The event store position the outbox relay has published."
        )
        if relayed is not None:
            relay.add_metric([], relayed)
        yield relay
        relay_lag = GaugeMetricFamily(
            "lead_relay_lag", "Events appended but not yet published by the relay."
        )
        if appended is not None and relayed is not None:
            relay_lag.add_metric([], max(appended - relayed, 0))
        yield relay_lag
        projections = GaugeMetricFamily(
            "lead_projection_lag",
            "Messages a projection is behind the end of its topic.",
            labels=["projection"],
        )
        for name, behind in sorted((lag or {}).items()):
            projections.add_metric([name], behind)
        yield projections
        errors = CounterMetricFamily(
            "lead_scrape_errors",
            "Failures to read a figure for the metrics, by the figure's source.",
            labels=["source"],
        )
        with self._lock:
            counts = dict(self._errors)
        for source, count in counts.items():
            errors.add_metric([source], count)
        yield errors

    def _workers(
        self, stuck: Sequence[Stuck] | None, errors: Sequence[ConsumerErrors] | None
    ) -> Iterator[Metric]:
        """The workers' trouble, when `Gauges` has their callables."""
        if self.gauges.stuck is not None:
            labels = ["consumer", "topic", "partition", "error"]
            seconds = GaugeMetricFamily(
                "lead_consumer_stuck_seconds",
                "How long a partition's batch has been failing and tried again.",
                labels=labels,
            )
            failures = GaugeMetricFamily(
                "lead_consumer_stuck_failures",
                "How often a stuck partition's batch has failed so far.",
                labels=labels,
            )
            now = datetime.now(UTC)
            for s in stuck or ():
                values = [s.consumer, s.topic, str(s.partition), _error_type(s.error)]
                seconds.add_metric(values, max((now - s.since).total_seconds(), 0.0))
                failures.add_metric(values, s.failures)
            yield seconds
            yield failures
        if self.gauges.consumer_errors is not None:
            letters = CounterMetricFamily(
                "lead_consumer_dead_letters",
                "Messages a consumer set aside on the dead-letter topic.",
                labels=["consumer"],
            )
            last = GaugeMetricFamily(
                "lead_consumer_last_error_timestamp_seconds",
                "When a consumer last dead-lettered a message, and the error's type.",
                labels=["consumer", "error"],
            )
            for e in errors or ():
                letters.add_metric([e.consumer], e.count)
                last.add_metric([e.consumer, _error_type(e.last_error)], e.last_at.timestamp())
            yield letters
            yield last


def _error_type(error: str) -> str:
    """`Type [SQLSTATE]` of an error as the workers describe it: a label of few values."""
    return error.split(":", 1)[0][:100]


class Counters(Collector):
    """Counters a process keeps as plain numbers (the relay's), read when scraped."""

    def __init__(self, counters: Mapping[str, tuple[str, Callable[[], float]]]) -> None:
        self.counters = dict(counters)  # name (without _total) -> (help, read)

    def collect(self) -> Iterator[Metric]:
        for name, (help_, read) in self.counters.items():
            family = CounterMetricFamily(name, help_)
            family.add_metric([], float(read()))
            yield family


class WorkerCounters:
    """What a worker has done since it started, per consumer (projections, audit, feed)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.batches = Counter(
            "lead_worker_batches",
            "Batches a worker's consumer stored (each in one transaction).",
            ["consumer"],
            registry=registry,
        )
        self.messages = Counter(
            "lead_worker_messages",
            "Messages a worker's consumer took from Kafka and stored.",
            ["consumer"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "lead_worker_dead_letters",
            "Messages this worker set aside on the dead-letter topic.",
            ["consumer"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "lead_worker_batch_seconds",
            "Time to store one batch, retries included.",
            ["consumer"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )

    def batch(self, consumer: str, messages: int, seconds: float) -> None:
        self.batches.labels(consumer=consumer).inc()
        self.messages.labels(consumer=consumer).inc(messages)
        self.batch_seconds.labels(consumer=consumer).observe(seconds)

    def dead_letter(self, consumer: str) -> None:
        self.dead_letters.labels(consumer=consumer).inc()


def serve(registry: CollectorRegistry, host: str, port: int) -> Any | None:
    """`GET /metrics` of `registry` on `host:port` in a thread of its own; the server, or
    None (logged) when the port is taken (a second replica on one host): the process
    runs on without metrics rather than not at all."""
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        logger.warning(
            "metrics: cannot listen on %s:%d (%s); none from this process", host, port, exc
        )
        return None
    logger.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return server


def age_seconds(at: datetime | None, now: datetime | None = None) -> float:
    """Seconds since `at` (0 for None: nothing waiting)."""
    if at is None:
        return 0.0
    return max(((now or datetime.now(UTC)) - at).total_seconds(), 0.0)


__all__ = [
    "Counters",
    "Gauges",
    "ReadSideCollector",
    "WorkerCounters",
    "age_seconds",
    "serve",
]
