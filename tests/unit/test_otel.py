"""Trace export is configured the OpenTelemetry way, and without it only the W3C context
is kept (infra/otel.py)."""

from __future__ import annotations

from events import tracing
from infra.otel import NoSpans, configured


def test_export_follows_the_otel_environment_variables() -> None:
    assert not configured({})
    assert configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert not configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "})
    assert not configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "TRUE"}
    )


def test_without_export_a_span_continues_the_callers_trace_with_a_span_of_its_own() -> None:
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with NoSpans().span("GET", parent=caller) as span:
        version, trace, own, flags = span.traceparent.split("-")
    assert (version, trace, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert own != "00f067aa0ba902b7" and tracing.valid(span.traceparent)


def test_without_a_valid_parent_a_span_starts_a_trace() -> None:
    for parent in (None, "junk", "00-" + "0" * 32 + "-00f067aa0ba902b7-01"):
        with NoSpans().span("GET", parent=parent) as span:
            assert tracing.valid(span.traceparent)
            assert span.traceparent.split("-")[1] != "0" * 32
