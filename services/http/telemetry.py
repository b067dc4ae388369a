"""Prometheus metrics for the HTTP API, in the Prometheus text format.

No global state: each `Telemetry` owns a fresh `CollectorRegistry`, so several apps
(say, one per test) live in one process without their counts mixing or their metric
names clashing. Nothing is registered in `prometheus_client.REGISTRY`.

What is exported:

- `lead_http_requests_total{method, route, status}`: a counter of HTTP requests.
- `lead_http_request_duration_seconds{method, route}`: a histogram of the time from a
  request reaching the middleware to its response having been sent (5 ms .. 10 s).
- Read when scraped, the read side's figures every process exports (event store, relay
  and projection lag, the workers' trouble): `infra.readside.metrics`.

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
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Final

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.readside.metrics import Gauges, ReadSideCollector
from services.http.openapi import OPERATIONS

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
            self.registry.register(ReadSideCollector(gauges))

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
        operation_id="getPrometheusMetrics",
        tags=[OPERATIONS],
        description=(
            "The API's metrics in the Prometheus text exposition format: requests by "
            "route template and status, latency, event store, relay and projection lag."
        ),
        response_class=Response,
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "Prometheus text",
            }
        },
    )
