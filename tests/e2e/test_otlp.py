"""Traces exported by OTLP when configured: a collector (here, a bare OTLP/HTTP receiver)
gets the API's span of a command, with the ids the API answered, and the worker's span
of the batch that stored its events, linked to it; no person's id in any span."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from infra.settings import Settings
from tests.e2e.conftest import Backend, running_backend
from tests.factories import referral_body
from tests.http import keyed
from tests.processes import wait_until

pytestmark = pytest.mark.e2e

TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
CALLER = f"00-{TRACE}-{CALLER_SPAN}-01"
POST = "POST /v1/referrals"


class Collector:
    """Keeps the body of every OTLP/HTTP export it is sent."""

    def __init__(self) -> None:
        bodies: list[bytes] = []
        self.bodies = bodies

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                if self.path == "/v1/traces":
                    bodies.append(self.rfile.read(length))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receive)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[tuple[str, Any]]:
        """(service name, span) for every span received so far."""
        found = []
        for body in list(self.bodies):
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource.resource.attributes
                    if a.key == "service.name"
                )
                for scope in resource.scope_spans:
                    found.extend((service, span) for span in scope.spans)
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    found = Collector()
    yield found
    found.close()


@pytest.fixture(scope="module")
def traced_backend(settings: Settings, collector: Collector) -> Iterator[Backend]:
    yield from running_backend(
        settings, OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, OTEL_BSP_SCHEDULE_DELAY="200"
    )


def test_a_command_is_one_trace_from_the_api_to_the_worker_in_the_collector(
    traced_backend: Backend, collector: Collector, people: dict[str, dict[str, str]]
) -> None:
    backend = traced_backend
    with keyed(
        httpx.Client(base_url=backend.base_url, headers=people["pm.kim"], timeout=10)
    ) as client:
        posted = client.post(
            "/v1/referrals",
            json=referral_body(pathway="community"),
            headers={"traceparent": CALLER},
        )
        assert posted.status_code == 201, posted.text
        answered = posted.headers["traceparent"]
        receipt = posted.json()
        read = client.get(f"/v1/referrals/{receipt['id']}?min_position={receipt['position']}")
        assert read.status_code == 200, read.text

    def api_span() -> Any:
        for service, span in collector.spans():
            if (service, span.trace_id.hex(), span.name) == ("lead-api", TRACE, POST):
                return span
        return None

    wait_until(lambda: api_span() is not None, 30, "the API's span in the collector")
    span = api_span()
    assert span.parent_span_id.hex() == CALLER_SPAN  # the caller's span is its parent
    assert f"00-{TRACE}-{span.span_id.hex()}-01" == answered  # the id the API answered
    attributes = {a.key: a.value for a in span.attributes}
    assert attributes["http.response.status_code"].int_value == 201
    assert attributes["http.route"].string_value == "/v1/referrals"

    def worker_span() -> Any:
        for service, found in collector.spans():
            if service == "lead-workers" and any(
                link.trace_id.hex() == TRACE for link in found.links
            ):
                return found
        return None

    wait_until(lambda: worker_span() is not None, 60, "the worker's linked span", backend.procs)
    assert worker_span().name.startswith("project ")

    exported = b"".join(collector.bodies)
    assert receipt["person_id"].encode() not in exported, "a person id in an exported span"
    assert receipt["id"].encode() not in exported, "a referral id in an exported span"
