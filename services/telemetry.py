"""Prometheus metrics for the HTTP API, in the Prometheus text format.

No global state: each `Telemetry` owns a fresh `CollectorRegistry`, so several apps
(say, one per test) live in one process without their counts mixing or their metric
names clashing. Nothing is registered in `prometheus_client.REGISTRY`.

What is exported:

- `lead_http_requests_total{method, route, status}`: a counter of HTTP requests.
- `lead_http_request_duration_seconds{method, route}`: a histogram of the time from a
  request reaching the middleware to its response having been sent (5 ms .. 10 s).
- Read when scraped, from the `Gauges` callables: `lead_events_appended` (the event
  store's highest position), `lead_relay_position` (what the outbox relay has published
  up to), `lead_relay_lag` (their difference, never negative) and
  `lead_projection_lag{projection}` (messages each projection is behind its topic's end).
- When given, from the workers' tables: `lead_consumer_stuck_seconds{consumer, topic,
  partition, error}` (how long a partition's batch has been failing and retried; `error`
  is the last error's type and SQLSTATE; no sample while nothing is stuck) with
  `lead_consumer_stuck_failures` (attempts so far), and per consumer
  `lead_consumer_dead_letters_total` and `lead_consumer_last_error_timestamp_seconds{error}`.
- `lead_scrape_errors_total{source}`: how often reading one of those callables raised;
  `source` is the field of `Gauges` (`events_appended`, `relay_position`,
  `projection_lag`, `stuck`, `consumer_errors`). A callable that raises only loses its
  own figures (and `lead_relay_lag`, which needs both positions); the scrape still
  succeeds.

`route` is the route *template*, e.g. `/v1/referrals/{referral_id}`, never the raw path:
raw paths carry person ids (a privacy leak into a long-lived time-series store) and
their number is unbounded. Requests no route matched are labelled `unmatched`; a
matched route whose full template cannot be established is labelled `unknown` rather
than risk a raw path. `method` is one of the standard HTTP methods or `other`.

Wiring, in the composition root, before the app starts serving::

    telemetry = Telemetry(Gauges(events_appended=..., relay_position=..., projection_lag=...))
    install(api, telemetry)  # the middleware, and GET /metrics

or by hand: `api.add_middleware(telemetry.middleware())`, and serve `telemetry.render()`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.read_side import ConsumerErrors, Stuck

__all__ = [
    "DURATION_BUCKETS",
    "UNKNOWN",
    "UNMATCHED",
    "Gauges",
    "MetricsMiddleware",
    "Telemetry",
    "install",
    "route_template",
]

logger = logging.getLogger(__name__)

UNMATCHED: Final = "unmatched"
"""The `route` label of a request no route matched (404s, redirects to a slash)."""

UNKNOWN: Final = "unknown"
"""The `route` label of a matched request whose full route template is not known."""

DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds, in seconds, of the latency histogram (Prometheus adds +Inf)."""

_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)


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


class Telemetry:
    """The metrics of one API process (or one test app), in a registry of its own."""

    def __init__(self, gauges: Gauges | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lead_http_requests",
            "HTTP requests handled, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "lead_http_request_duration_seconds",
            "Time from receiving an HTTP request to having sent its response.",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.gauges = gauges
        if gauges is not None:
            self.registry.register(_ScrapeTimeCollector(gauges))

    def middleware(self) -> Callable[[ASGIApp], ASGIApp]:
        """A middleware factory for `api.add_middleware(telemetry.middleware())`.

        Starlette calls it with the app it wraps; it returns a pure ASGI middleware
        (`MetricsMiddleware`) bound to this `Telemetry`. Add it before the app starts.
        """

        def factory(app: ASGIApp) -> ASGIApp:
            return MetricsMiddleware(app, self)

        return factory

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request (the middleware calls this)."""
        method = method.upper()
        if method not in _METHODS:
            method = "other"
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.duration.labels(method=method, route=route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware counting and timing HTTP requests into a `Telemetry`.

    The route template is read from the scope after the app has handled the request
    (see `route_template`); the raw path is never recorded. A request that
    raises before any response started is counted with status 500 (the status
    Starlette's error middleware, outside this one, answers with); otherwise the
    status sent is counted. Websocket and lifespan traffic passes through uncounted.
    """

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            elapsed = time.perf_counter() - started
            try:
                route = route_template(scope)
                self.telemetry.observe(str(scope.get("method", "")), route, status, elapsed)
            except Exception:  # metrics must never fail a request, nor mask its error
                logger.exception("metrics: could not record a request")


def route_template(scope: Scope) -> str:
    """The template of the route that handled a request, e.g. `/v1/things/{thing_id}`.

    Call it after the app has handled the request. `UNMATCHED` if no route matched.
    Requests into a mount that no route inside recorded (a plain ASGI app such as
    static files, a sub-app's 404) are labelled by the mount: `/static/{path}`.
    `UNKNOWN` if a route matched but no template of it can be shown to account for the
    whole path; the raw path, or any piece of it, is never used instead.

    Templates come from the routes themselves and are only believed when their pattern
    matches the request's path. That check matters: FastAPI (0.16x) keeps included
    routers nested, and its `scope["route"]` is then the route as declared on a
    prefixed `APIRouter` (without the prefix); the full template FastAPI resolved is
    then used if it can be found. FastAPI's router also records only its own routes in
    `scope["route"]`, so plain Starlette routes and mounts (`/openapi.json`, `/docs`,
    `api.mount(...)`) are looked up by their endpoint among the app's routes.
    """
    route = scope.get("route")
    if route is None and "endpoint" not in scope:
        return UNMATCHED
    prefix = _mount_prefix(scope)
    if prefix is None:
        return UNKNOWN
    if route is None or isinstance(route, Mount):
        if prefix:
            return f"{prefix}/{{path}}"
        return _top_level_template(scope) or UNKNOWN
    path = _route_path(scope)
    for template, pattern in _candidate_templates(scope, route):
        if pattern.match(path):
            return prefix + template
    return UNKNOWN


def _candidate_templates(scope: Scope, route: object) -> Iterator[tuple[str, re.Pattern[str]]]:
    template = getattr(route, "path_format", None)
    pattern = getattr(route, "path_regex", None)
    if isinstance(template, str) and isinstance(pattern, re.Pattern):
        yield template, pattern
    # FastAPI 0.16x keeps included routers nested: `scope["route"]` is then the route
    # as declared, and the effective one (prefixes applied) sits in FastAPI's own scope
    # entry. Not a public API, so only used when it is about this very route.
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, Mapping):
        context = fastapi_scope.get("effective_route_context")
        if getattr(context, "original_route", None) is route:
            template = getattr(context, "path_format", None)
            pattern = getattr(context, "path_regex", None)
            if isinstance(template, str) and isinstance(pattern, re.Pattern):
                yield template, pattern


def _top_level_template(scope: Scope) -> str | None:
    """The template of the app's own (unmounted) route whose endpoint handled the request."""
    endpoint = scope.get("endpoint")
    path = _route_path(scope)
    for route in _top_level_routes(scope):
        template = getattr(route, "path_format", None)
        pattern = getattr(route, "path_regex", None)
        if (
            getattr(route, "endpoint", None) is endpoint
            and isinstance(template, str)
            and isinstance(pattern, re.Pattern)
            and pattern.match(path)
        ):
            return template
    return None


def _mount_prefix(scope: Scope) -> str | None:
    """The template of the mount the request went into, e.g. `/sub`.

    `""` if it went into none, `None` if it did but the template is not known (say,
    a mount inside a mount): never the path as the request spelled it, which would
    carry the values of any parameters in the mount's path.
    """
    app_root_path = scope.get("app_root_path")  # set by Starlette's Mount only
    root_path = scope.get("root_path", "")
    if not isinstance(app_root_path, str) or not isinstance(root_path, str):
        return ""
    if not root_path.startswith(app_root_path):
        return None
    mounted = root_path.removeprefix(app_root_path)
    if not mounted:
        return ""
    path = _below(str(scope.get("path", "")), app_root_path)
    for route in _top_level_routes(scope):
        if isinstance(route, Mount) and route.path_regex.match(path):
            # The router took the first matching route; a Mount, as a mount was entered.
            exactly, _, _ = compile_path(route.path)
            return route.path if exactly.match(mounted) else None
    return None


def _top_level_routes(scope: Scope) -> list[object]:
    routes = getattr(scope.get("router"), "routes", None)  # the app's (outermost) router
    return list(routes) if isinstance(routes, list | tuple) else []


def _route_path(scope: Scope) -> str:
    """The path the last router matched against: below `root_path` (as Starlette's)."""
    return _below(str(scope.get("path", "")), str(scope.get("root_path", "")))


def _below(path: str, root_path: str) -> str:
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


class _ScrapeTimeCollector(Collector):
    """Reads the `Gauges` callables on every scrape, and counts those that raise."""

    SOURCES: Final = ("events_appended", "relay_position", "projection_lag")
    WORKERS: Final = ("stuck", "consumer_errors")  # optional fields of `Gauges`

    def __init__(self, gauges: Gauges) -> None:
        self.gauges = gauges
        self._lock = threading.Lock()
        given = [s for s in self.WORKERS if getattr(gauges, s) is not None]
        self._errors = dict.fromkeys((*self.SOURCES, *given), 0)

    def describe(self) -> Iterator[Metric]:
        """The metric names, so that the registry checks for clashes without reading
        the callables when the collector is registered."""
        yield from self._families(None, None, None)
        yield from self._workers(None, None)

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
        yield from self._families(appended, relayed, lag)  # after every read: counts errors
        yield from self._workers(stuck_now, errors_now)

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


def install(api: FastAPI, telemetry: Telemetry, path: str = "/metrics") -> None:
    """Count and time `api`'s requests, and serve the metrics at GET `path`.

    Call it before the app starts serving (Starlette refuses middleware after that).
    The endpoint is synchronous, so FastAPI runs it in its thread pool: the `Gauges`
    callables may block (on the database, say) without stalling the event loop.
    """
    api.add_middleware(telemetry.middleware())

    def prometheus_metrics() -> Response:
        body, content_type = telemetry.render()
        return Response(content=body, media_type=content_type)

    api.add_api_route(
        path,
        prometheus_metrics,
        methods=["GET"],
        include_in_schema=True,
        summary="Prometheus metrics",
        description=(
            "The API's metrics in the Prometheus text exposition format: requests by "
            "route template and status, latency, event store, relay and projection lag."
        ),
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
    )
