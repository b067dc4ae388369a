"""The latency benchmark: a command accepted -> its row visible in the referrals view,
against a bare producer -> consumer round trip at the same rate."""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from kafka import KafkaConsumer, KafkaProducer

from infra.kafka.relay import make_producer
from infra.kafka.security import client_kwargs
from services.tools.bench.measure import Figure, cpu_seconds, percentile, postmaster_pid
from services.tools.bench.workload import lag, new_topic, referrals, spawn, stop, wait


def _poll(dsn: str, accepted: dict[str, float], seen: dict[str, float], done: Any) -> None:
    """Notes when each accepted referral first shows in the view (until all have)."""
    deadline = None
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not done.is_set() or len(seen) < len(accepted):
            if done.is_set():
                deadline = deadline or time.monotonic() + 60
                if time.monotonic() > deadline:
                    return
            pending = [k for k in list(accepted) if k not in seen]
            if pending:
                for (rid,) in conn.execute(
                    "SELECT referral_id::text FROM proj_referrals.referrals "
                    "WHERE referral_id = ANY(%s::uuid[])",
                    (pending,),
                ).fetchall():
                    seen.setdefault(rid, time.perf_counter())
            time.sleep(0.005)  # a finer grain costs the machine more than it measures


def bench_latency(container: Any, events: int, rounds: int) -> list[Figure]:
    """Command accepted -> row visible in the referrals view, at 200 commands/s, against a
    bare producer -> consumer round trip at the same rate."""
    settings = container.settings
    p50 = Figure("latency p50, command -> view", "ms", goal=10.0, better="lower")
    p99 = Figure("latency p99, command -> view", "ms", goal=10.0, better="lower")
    policy = container.application.policy_in_force(datetime.now(UTC).date())
    count = max(events // 2, 20)
    achieved: list[float] = []
    from infra.local.kafka import LocalKafka
    from infra.local.postgres import LocalPostgres

    procs = [spawn("relay", settings), spawn("consumers", settings)]
    who = {
        "relay": (procs[0].pid, False),
        "worker": (procs[1].pid, False),
        "bench": (os.getpid(), False),
        "kafka": (LocalKafka(settings).pid(), False),
        "postgres": (postmaster_pid(LocalPostgres(settings).pgdata), True),
    }
    used = dict.fromkeys(who, 0.0)
    try:
        wait(lambda: lag(container) == 0, 600)
        _warm_up(container, policy)
        for _ in range(rounds):
            before = {k: cpu_seconds(pid, children=c) for k, (pid, c) in who.items()}
            accepted: dict[str, float] = {}
            seen: dict[str, float] = {}
            done = threading.Event()

            poller = threading.Thread(
                target=_poll, args=(settings.dsn, accepted, seen, done), daemon=True
            )
            poller.start()
            batch = referrals(policy, count)
            gc.collect()
            gc.freeze()  # as the API does after start-up (`lead api`): no long pause to time
            start = time.perf_counter()
            for i, referral in enumerate(batch):
                time.sleep(max(0.0, start + i / 200 - time.perf_counter()))
                container.application.save(referral)
                accepted[str(referral.id)] = time.perf_counter()
            achieved.append(count / (time.perf_counter() - start))
            done.set()
            poller.join(timeout=120)
            gc.unfreeze()
            for k, (pid, c) in who.items():
                used[k] += cpu_seconds(pid, children=c) - before[k]
            lat = [1000 * (seen[k] - accepted[k]) for k in accepted if k in seen]
            p50.backend.append(percentile(lat, 0.5))
            p99.backend.append(percentile(lat, 0.99))
            raw = _raw_round_trip(settings, count)
            p50.baseline.append(percentile(raw, 0.5))
            p99.baseline.append(percentile(raw, 0.99))
    finally:
        for proc in procs:
            stop(proc)
    # The rate the commands were actually sent at (the machine may not keep up with 200/s).
    p50.facts["commands_per_s_sent"] = round(statistics.median(achieved), 1)
    # Where the machine's time went: CPU ms per referral (two events), by process.
    for k, seconds in used.items():
        p50.facts[f"cpu_ms_per_command_{k}"] = round(1000 * seconds / (count * rounds), 2)
    return [p50, p99]


def _warm_up(container: Any, policy: Any) -> None:
    """Steady state before timing: the relay and the worker (which has joined its group
    and been given its partitions) have carried referrals into the view."""
    warm = referrals(policy, 20)
    container.application.save(*warm)
    ids = [str(r.id) for r in warm]

    def visible() -> bool:
        with psycopg.connect(container.settings.dsn) as conn:
            row = conn.execute(
                "SELECT count(*) FROM proj_referrals.referrals WHERE referral_id = ANY(%s::uuid[])",
                (ids,),
            ).fetchone()
        return bool(row and row[0] == len(ids))

    wait(visible, 300)


def _raw_round_trip(settings: Any, count: int) -> list[float]:
    topic = new_topic(settings.bootstrap_servers, settings.topic_partitions)
    consumer = KafkaConsumer(
        topic, **client_kwargs(), bootstrap_servers=settings.bootstrap_servers, group_id=None
    )
    consumer.poll(timeout_ms=1000)  # assigned before the first message
    consumer.seek_to_end()
    received: list[float] = []
    sent: dict[bytes, float] = {}
    done = threading.Event()

    def consume() -> None:
        while not done.is_set() or len(received) < len(sent):
            for records in consumer.poll(timeout_ms=100).values():
                for r in records:
                    if r.value in sent:
                        received.append(1000 * (time.perf_counter() - sent[r.value]))
            if done.is_set() and time.perf_counter() - last[0] > 30:
                return

    last = [time.perf_counter()]
    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    producer: KafkaProducer = make_producer(settings.bootstrap_servers)
    start = time.perf_counter()
    for i in range(count):
        time.sleep(max(0.0, start + i / 200 - time.perf_counter()))
        value = uuid.uuid4().bytes
        sent[value] = time.perf_counter()
        producer.send(topic, value=value).get(timeout=30)
    last[0] = time.perf_counter()
    done.set()
    reader.join(timeout=60)
    producer.close()
    consumer.close()
    return received
