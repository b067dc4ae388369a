"""OpenTelemetry spans, exported by OTLP (HTTP/protobuf) when the operator configures it.

Configured the way every OpenTelemetry SDK is: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) names the collector, `OTEL_EXPORTER_OTLP_HEADERS`,
`OTEL_EXPORTER_OTLP_CERTIFICATE` and the rest are read by the exporter itself,
`OTEL_SERVICE_NAME` overrides the process's name (`lead-api`, `lead-workers`, ...) and
`OTEL_SDK_DISABLED=true` turns it off. Without an endpoint nothing is exported and no
SDK object is made: `spans()` gives `NoSpans`, which keeps the W3C trace context alone
(events/tracing.py), as before.

Either way a span's `traceparent` is what the process answers, stores with its events
and logs, so a trace in the collector and the ids in the logs, the store and the
CloudEvents are the same ones. Spans carry routes and counts, never a person's id
(routes are templates; see services/http/tracing.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from events import tracing

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

Attributes = Mapping[str, str | int | float | bool]


class Span(Protocol):
    """A span being recorded: its W3C traceparent, and what it learns before it ends."""

    @property
    def traceparent(self) -> str: ...
    def name(self, name: str) -> None: ...
    def set(self, attributes: Attributes) -> None: ...
    def failed(self) -> None: ...


class Spans(Protocol):
    def span(
        self,
        name: str,
        *,
        parent: str | None = None,
        links: Sequence[str] = (),
        kind: str = "internal",
        attributes: Attributes | None = None,
    ) -> Any:
        """A context manager giving a `Span`: a child of `parent` (a traceparent) when it
        is a valid one, else the root of a new trace; `links` are traceparents of the
        work it concerns (the commands behind a batch of events)."""
        ...

    def close(self) -> None: ...


class _Context:
    """A span without an SDK: only its trace context."""

    def __init__(self, traceparent: str) -> None:
        self.traceparent = traceparent

    def name(self, name: str) -> None:
        pass

    def set(self, attributes: Attributes) -> None:
        pass

    def failed(self) -> None:
        pass


class NoSpans:
    """Nothing exported: a child traceparent of the parent's trace, or a new trace."""

    @contextmanager
    def span(
        self,
        name: str,
        *,
        parent: str | None = None,
        links: Sequence[str] = (),
        kind: str = "internal",
        attributes: Attributes | None = None,
    ) -> Iterator[Span]:
        yield _Context(tracing.child(parent))

    def close(self) -> None:
        pass


class _SdkSpan:
    def __init__(self, span: Any, traceparent: str) -> None:
        self._span = span
        self.traceparent = traceparent

    def name(self, name: str) -> None:
        self._span.update_name(name)

    def set(self, attributes: Attributes) -> None:
        self._span.set_attributes(dict(attributes))

    def failed(self) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._span.set_status(Status(StatusCode.ERROR))


class OtlpSpans:
    """Spans of one process, batched to the OTLP collector the environment names."""

    def __init__(self, service: str, site_id: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        resource = Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME") or service, "lead.site": site_id}
        )
        self._provider = TracerProvider(resource=resource)
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self._tracer = self._provider.get_tracer("lead")
        self._propagator = TraceContextTextMapPropagator()

    def _context(self, traceparent: str | None) -> Any:
        valid = tracing.valid(traceparent)
        return self._propagator.extract({"traceparent": valid}) if valid else None

    @contextmanager
    def span(
        self,
        name: str,
        *,
        parent: str | None = None,
        links: Sequence[str] = (),
        kind: str = "internal",
        attributes: Attributes | None = None,
    ) -> Iterator[Span]:
        from opentelemetry import trace

        linked = []
        for link in links:
            context = self._context(link)
            if context is not None:
                linked.append(trace.Link(trace.get_current_span(context).get_span_context()))
        with self._tracer.start_as_current_span(
            name,
            context=self._context(parent),
            kind=getattr(trace.SpanKind, kind.upper()),
            attributes=dict(attributes or {}),
            links=linked,
            record_exception=False,  # an exception's text may carry a person's data
        ) as span:
            found = span.get_span_context()
            flags = "01" if found.trace_flags.sampled else "00"
            yield _SdkSpan(span, f"00-{found.trace_id:032x}-{found.span_id:016x}-{flags}")

    def close(self) -> None:
        self._provider.shutdown()  # exports what is still batched


def configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment names an OTLP collector (and does not disable the SDK)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(env.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def spans(service: str, site_id: str) -> Spans:
    """OTLP export when configured, else trace context only."""
    return OtlpSpans(service, site_id) if configured() else NoSpans()
