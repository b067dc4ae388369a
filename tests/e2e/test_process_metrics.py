"""`curl /metrics` on the relay and on a worker, as an operator's Prometheus scrapes them:
lag in events and in seconds that moves when the worker is stopped and commands go on
arriving, and falls back to nothing once a worker is back; never a person's id."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import subprocess_env
from tests.e2e.conftest import Backend
from tests.factories import referral_body
from tests.http import keyed
from tests.processes import Proc, wait_until

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> tuple[str, Samples]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def answers(port: int) -> bool:
    try:
        scrape(port)
        return True
    except httpx.HTTPError:
        return False


def test_relay_and_worker_metrics_show_lag_that_moves_when_the_worker_stops(
    people: dict[str, dict[str, str]], backend: Backend
) -> None:
    relay_port = backend.settings.relay_metrics_port
    worker_port = backend.settings.consumer_web_port
    wait_until(lambda: answers(relay_port) and answers(worker_port), 60, "metrics", backend.procs)

    with keyed(
        httpx.Client(base_url=backend.base_url, headers=people["pm.kim"], timeout=10)
    ) as client:
        first = client.post("/v1/referrals", json=referral_body(pathway="community"))
        assert first.status_code == 201, first.text

        def caught_up(port: int) -> bool:
            _, samples = scrape(port)
            return (
                value(samples, "lead_relay_lag") == 0
                and value(samples, "lead_projection_lag", projection="referrals") == 0
                and value(samples, "lead_projection_lag_seconds", projection="referrals") == 0
                and (value(samples, "lead_events_appended") or 0) >= first.json()["position"]
            )

        wait_until(lambda: caught_up(relay_port) and caught_up(worker_port), 60, "caught up")
        text, worker = scrape(worker_port)
        assert (value(worker, "lead_worker_batches_total", consumer="lead-projections") or 0) > 0
        assert (value(worker, "lead_worker_messages_total", consumer="lead-projections") or 0) > 0
        relay_text, relay = scrape(relay_port)
        assert (value(relay, "lead_relay_published_total") or 0) > 0
        assert value(relay, "lead_relay_lag_seconds") == 0
        for body in (text, relay_text):
            assert first.json()["person_id"] not in body and first.json()["id"] not in body

        backend.consumers.stop()
        for _ in range(5):
            posted = client.post("/v1/referrals", json=referral_body(pathway="community"))
            assert posted.status_code == 201, posted.text

    def behind() -> bool:
        _, samples = scrape(relay_port)
        return (value(samples, "lead_projection_lag", projection="referrals") or 0) >= 5

    wait_until(behind, 60, "the relay's metrics to show the projections behind")
    _, before = scrape(relay_port)
    time.sleep(1.5)
    _, after = scrape(relay_port)
    lag_before = value(before, "lead_projection_lag_seconds", projection="referrals")
    lag_after = value(after, "lead_projection_lag_seconds", projection="referrals")
    assert lag_before is not None and lag_after is not None
    assert lag_after >= lag_before + 1.0 > 1.0  # the oldest waiting message grows older
    assert value(after, "lead_relay_lag") == 0  # the relay itself kept up
    assert not answers(worker_port)  # the stopped worker serves nothing

    logs = backend.settings.data_dir / "logs"
    backend.consumers = Proc("consumers", subprocess_env(), logs)
    wait_until(lambda: answers(worker_port), 60, "the worker's metrics", backend.procs)
    wait_until(
        lambda: caught_up_again(relay_port) and caught_up_again(worker_port),
        90,
        "the restarted worker to catch up",
        backend.procs,
    )


def caught_up_again(port: int) -> bool:
    _, samples = scrape(port)
    return (
        value(samples, "lead_projection_lag", projection="referrals") == 0
        and value(samples, "lead_projection_lag_seconds", projection="referrals") == 0
    )
