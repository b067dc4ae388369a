"""Dashboards subscribe to a view with Server-Sent Events, and resume without gaps."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from infra.local.processes import free_port
from tests.conftest import subprocess_env
from tests.e2e.conftest import Backend, api_up
from tests.e2e.test_site_scenario_api import referral
from tests.http import api_client
from tests.processes import Proc, wait_until

pytestmark = pytest.mark.e2e


class Listener:
    """Reads an SSE stream in a thread; each event as (id, event, data)."""

    def __init__(self, base_url: str, path: str, headers: dict[str, str]) -> None:
        self.events: queue.Queue[tuple[str | None, str, Any]] = queue.Queue()
        self.subscribed = threading.Event()
        self.ended = threading.Event()
        self.status = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(base_url, path, headers), daemon=True
        )
        self._thread.start()

    def _run(self, base_url: str, path: str, headers: dict[str, str]) -> None:
        try:
            self._read(base_url, path, headers)
        except httpx.HTTPError:
            pass  # the server went away mid-stream: ended all the same
        finally:
            self.ended.set()

    def _read(self, base_url: str, path: str, headers: dict[str, str]) -> None:
        with (
            api_client(base_url, timeout=httpx.Timeout(30, read=None)) as client,
            client.stream("GET", path, headers=headers) as response,
        ):
            self.status = response.status_code
            block: dict[str, str] = {}
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line == ": subscribed":
                    self.subscribed.set()
                elif line == "":
                    if "data" in block:
                        self.events.put(
                            (
                                block.get("id"),
                                block.get("event", "message"),
                                json.loads(block["data"]),
                            )
                        )
                    block = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    block[name] = value.removeprefix(" ")
            self.subscribed.set()

    def until(self, predicate: Any, timeout: float) -> list[tuple[str | None, str, Any]]:
        """Events received until one satisfies `predicate` (which is included)."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(event)
            if predicate(event):
                return seen
        raise AssertionError(f"no matching event in {timeout}s; saw {seen}")

    def stop(self) -> None:
        self._stop.set()


@contextmanager
def listening(backend: Backend, path: str, headers: dict[str, str]) -> Iterator[Listener]:
    listener = Listener(backend.base_url, path, headers)
    try:
        assert listener.subscribed.wait(30), "no ': subscribed' from the stream"
        assert listener.status == 200
        yield listener
    finally:
        listener.stop()


def refer(client: httpx.Client, pm: dict[str, str], tag: str) -> str:
    body = {**referral("community", 0), "referrer": {"principal": "sse", "organisation": tag}}
    answer = client.post("/v1/referrals", json=body, headers=pm)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def is_row(referral_id: str) -> Any:
    return lambda event: (event[2].get("values") or {}).get("referral_id") == referral_id


def test_a_subscriber_sees_a_change_soon_and_resumes_without_gaps(
    backend: Backend, people: dict[str, dict[str, str]]
) -> None:
    pm = people["pm.kim"]
    tag = f"sse-{uuid.uuid4()}"
    with api_client(backend.base_url, timeout=30) as client:
        with listening(backend, "/v1/subscriptions/queue?start=now", pm) as listener:
            started = time.monotonic()
            first = refer(client, pm, tag)
            seen = listener.until(is_row(first), 30)
            latency = time.monotonic() - started
            # Then its screening: after that, nothing more happens to it.
            if (seen[-1][2].get("values") or {}).get("status") == "received":
                seen += listener.until(is_row(first), 30)
            print(f"queue change seen {latency:.2f}s after the command")
            last_id = seen[-1][0]
            assert last_id
        # Disconnected: these happen while nobody listens.
        missed = [refer(client, pm, tag) for _ in range(3)]
        resumed_headers = {**pm, "last-event-id": last_id}
        with listening(backend, "/v1/subscriptions/queue", resumed_headers) as listener:
            got: list[str] = []

            def all_missed_arrived(event: tuple[str | None, str, Any]) -> bool:
                got.append((event[2].get("values") or {}).get("referral_id"))
                return set(missed) <= set(got)

            listener.until(all_missed_arrived, 30)
    # Each missed referral arrives (received, then screened: one row change or more),
    # and nothing from before the disconnect is sent again.
    assert first not in got
    assert set(missed) <= set(got)


def test_subscriptions_follow_the_same_rules_as_reads(
    backend: Backend, people: dict[str, dict[str, str]]
) -> None:
    with api_client(backend.base_url, timeout=30) as client:
        for who, path, status in [
            ("ev.park", "/v1/subscriptions/queue", 403),
            ("officer.reyes", "/v1/subscriptions/queue", 403),
            ("pm.kim", "/v1/subscriptions/liaison", 404),
            ("pm.kim", "/v1/subscriptions/queue", 200),
        ]:
            with client.stream("GET", path, headers=people[who]) as answer:
                assert answer.status_code == status, (who, path)
        bad = {**people["pm.kim"], "last-event-id": "not-a-cursor"}
        with client.stream("GET", "/v1/subscriptions/queue", headers=bad) as answer:
            assert answer.status_code == 422
    # An officer subscribed to referrals sees their own, status only.
    officer = people["officer.reyes"]
    with (
        api_client(backend.base_url, timeout=30) as client,
        listening(backend, "/v1/subscriptions/referrals?start=now", officer) as listener,
    ):
        theirs = client.post("/v1/referrals", json=referral("social_contact", 0), headers=officer)
        assert theirs.status_code == 201, theirs.text
        [*_, (_, _, change)] = listener.until(
            lambda e: (e[2].get("values") or {}).get("referral_id") == theirs.json()["id"], 30
        )
        assert set(change["values"]) == {
            "referral_id",
            "pathway",
            "status",
            "received_at",
            "eligibility",
            "position",
        }


def test_an_open_subscription_does_not_hold_the_api_at_shutdown(
    backend: Backend, people: dict[str, dict[str, str]]
) -> None:
    # An API of its own, so stopping it leaves the module's backend running.
    port = free_port(0, backend.settings.api_host)
    env = subprocess_env(LEAD_API_PORT=str(port))
    api = Proc("api", env, backend.settings.data_dir / "logs")
    base_url = f"http://{backend.settings.api_host}:{port}"
    try:
        wait_until(lambda: api_up(base_url), 60, "the second API", (api,))
        listener = Listener(base_url, "/v1/subscriptions/queue?start=now", people["pm.kim"])
        assert listener.subscribed.wait(30), "no ': subscribed' from the stream"
        assert listener.status == 200
        os.kill(api.popen.pid, signal.SIGTERM)
        # Without closing the stream uvicorn waits for it forever.
        try:
            code = api.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the API still runs 20 s after SIGTERM with a stream open:\n{api.tail()}"
            ) from None
        # uvicorn ends by raising the signal it caught again, once shut down.
        assert code in (0, -signal.SIGTERM), api.tail()
        assert "Application shutdown complete" in api.tail(), api.tail()
        listener.ended.wait(10)
        assert listener.ended.is_set(), "the client's stream was not closed"
    finally:
        api.stop()
