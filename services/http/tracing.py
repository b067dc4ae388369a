"""Each request's trace context and its one access-log line.

A pure ASGI middleware, outermost: it takes the caller's W3C `traceparent` when valid
(the trace goes on, with a span of this request's own) or starts a trace, sets it for
everything the request does (events recorded carry it: events/tracing.py), answers it
in `traceparent` and `X-Request-Id` (the trace id), and logs the request on
`lead.access` with the route *template* (never the raw path: paths carry person ids),
the status, the time taken and the trace id. The request is a span of `spans`
(infra/otel.py): exported by OTLP when the operator configured it.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events import tracing
from infra.otel import NoSpans, Span, Spans
from services.http.telemetry import route_template

access = logging.getLogger("lead.access")


def caller_traceparent(scope: Scope) -> str | None:
    """The request's `traceparent` header, when it is a valid one."""
    for name, value in scope.get("headers", ()):
        if name == b"traceparent":
            return tracing.valid(value.decode("latin-1").strip())
    return None


class Tracing:
    def __init__(self, app: ASGIApp, spans: Spans | None = None) -> None:
        self.app = app
        self.spans: Spans = spans or NoSpans()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "")
        with self.spans.span(method, parent=caller_traceparent(scope), kind="server") as span:
            await self._traced(scope, receive, send, span)

    async def _traced(self, scope: Scope, receive: Receive, send: Send, span: Span) -> None:
        traceparent = span.traceparent
        trace_id = tracing.trace_id(traceparent) or ""
        started = time.perf_counter()
        status = 500

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", ()))
                headers.append((b"traceparent", traceparent.encode()))
                headers.append((b"x-request-id", trace_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with tracing.tracing(traceparent):
            try:
                await self.app(scope, receive, send_traced)
            finally:
                method, route = scope.get("method", ""), route_template(scope)
                span.name(f"{method} {route}")
                span.set(
                    {
                        "http.request.method": method,
                        "http.route": route,
                        "http.response.status_code": status,
                    }
                )
                if status >= 500:
                    span.failed()
                access.info(
                    "%s %s %d",
                    method,
                    route,
                    status,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
