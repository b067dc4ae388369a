"""Each request's trace context and its one access-log line.

A pure ASGI middleware, outermost: it takes the caller's W3C `traceparent` when valid
(the trace goes on, with a span of this request's own) or starts a trace, sets it for
everything the request does (events recorded carry it: events/tracing.py), answers it
in `traceparent` and `X-Request-Id` (the trace id), and logs the request on
`lead.access` with the route *template* (never the raw path: paths carry person ids),
the status, the time taken and the trace id.
"""

from __future__ import annotations

import logging
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events import tracing
from services.http.telemetry import route_template

access = logging.getLogger("lead.access")


def request_traceparent(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"traceparent":
            parent = tracing.valid(value.decode("latin-1").strip())
            if parent is not None:
                version, trace, _, flags = parent.split("-")
                return f"{version}-{trace}-{secrets.token_hex(8)}-{flags}"
    return tracing.new()


class Tracing:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        traceparent = request_traceparent(scope)
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
