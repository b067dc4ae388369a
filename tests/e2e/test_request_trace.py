"""One command followed by its trace id: the API's log, the stored event, the CloudEvent
on `lead.events.v1` (the distributed-tracing extension) and the worker's log; and no
person's id in any of those logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from events.topics import EVENTS
from services.bootstrap import Container
from tests.e2e.conftest import Backend
from tests.factories import referral_body
from tests.http import keyed
from tests.kafka_reader import read_all
from tests.processes import wait_until

pytestmark = pytest.mark.e2e

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE}-00f067aa0ba902b7-01"


def json_lines(log: Path) -> list[dict[str, Any]]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def cloudevent(value: bytes | None) -> dict[str, Any]:
    """A message's JSON object; {} for what is not one (other tests put poison there)."""
    try:
        found = json.loads(value or b"")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def test_a_commands_trace_id_is_in_the_api_log_the_store_the_cloudevent_and_the_worker_log(
    people: dict[str, dict[str, str]], backend: Backend, container: Container
) -> None:
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
        assert answered.split("-")[1] == TRACE and answered != CALLER  # a span of its own
        assert posted.headers["x-request-id"] == TRACE
        receipt = posted.json()
        read = client.get(f"/v1/referrals/{receipt['id']}?min_position={receipt['position']}")
        assert read.status_code == 200, read.text
        fresh = client.get("/healthz")
        assert fresh.headers["x-request-id"] != TRACE  # no traceparent sent: a trace of its own

    def api_logged() -> bool:
        return any(
            line.get("trace_id") == TRACE
            and line.get("logger") == "lead.access"
            and line.get("route") == "/v1/referrals"
            and line.get("status") == 201
            for line in json_lines(backend.api.log)
        )

    wait_until(api_logged, 20, "the API's access line with the trace id")

    with psycopg.connect(container.dsn) as conn:
        states = conn.execute(
            sql.SQL("SELECT state FROM {} WHERE originator_id = %s").format(
                sql.Identifier(container.events_table)
            ),
            (receipt["id"],),
        ).fetchall()
    assert states and all(json.loads(bytes(s))["traceparent"] == answered for (s,) in states)

    messages = [cloudevent(r.value) for r in read_all(backend.settings.bootstrap_servers, EVENTS)]
    on_topic = [
        m
        for m in messages
        if isinstance(m.get("data"), dict) and m["data"].get("aggregate_id") == receipt["id"]
    ]
    assert on_topic and all(m["traceparent"] == answered for m in on_topic)
    assert all("traceparent" not in m["data"] for m in on_topic)

    def worker_logged() -> bool:
        return any(TRACE in line.get("trace_ids", []) for line in json_lines(backend.consumers.log))

    wait_until(worker_logged, 30, "the worker's line with the trace id", backend.procs)

    for proc in backend.procs:
        text = proc.log.read_text(errors="replace")
        assert receipt["person_id"] not in text, f"a person id in the {proc.name} log"
        assert receipt["id"] not in text, f"a referral id in the {proc.name} log"
