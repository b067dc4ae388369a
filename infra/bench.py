"""Benchmarks against the raw limits of PostgreSQL and Kafka, measured in the same run.

Each benchmark runs the backend's path and a raw baseline doing the same work with the
bare client, for several rounds, and reports both rates, their ratio, and the spread
over rounds. Absolute figures depend on the machine; ratios are what is compared.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from aggregates.referral import Referral
from events.base import Actor, DomainEvent, Role
from events.envelope import CloudEvent, decode_opening, envelope
from events.referral import Incident, Pathway, Person, Referrer
from events.topics import EVENTS
from infra.kafka_security import aiokafka_kwargs, client_kwargs
from infra.relay import OutboxRelay, RelayPosition, make_producer
from infra.settings import PROJECT_ROOT

OFFICER = Actor(principal="bench.officer", role=Role.OFFICER, organisation="Bench PD")


@dataclass
class Figure:
    name: str
    unit: str
    backend: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    goal: float | None = None  # the ratio backend / baseline to reach
    better: str = "higher"  # "lower" for latencies: the goal is then a maximum
    facts: dict[str, Any] = field(default_factory=dict)  # printed beside it (sizes, memory)

    @property
    def ratios(self) -> list[float]:
        return [b / r for b, r in zip(self.backend, self.baseline, strict=True) if r]

    def summary(self) -> dict[str, Any]:
        def spread(values: list[float]) -> dict[str, float]:
            return {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
            }

        return {
            "name": self.name,
            "unit": self.unit,
            "backend": spread(self.backend),
            "baseline": spread(self.baseline),
            "ratio": spread(self.ratios),
            "goal": self.goal,
            "better": self.better,
            "rounds": len(self.backend),
            "facts": self.facts,
        }


def rate(count: int, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return count / max(time.perf_counter() - started, 1e-9)


def referrals(policy: Any, n: int) -> list[Referral]:
    return [
        Referral.receive(
            actor=OFFICER,
            pathway=Pathway.ARREST_DIVERSION,
            policy=policy,
            referrer=Referrer(principal="bench.officer", organisation="Bench PD"),
            incident=Incident(offense_code="69.50.4013", description="possession"),
            person=Person(given_name="Bench", family_name=f"Person{i}"),
        )
        for i in range(n)
    ]


def save(app: Any, aggregates: list[Referral], per_call: int) -> None:
    for i in range(0, len(aggregates), per_call):
        app.save(*aggregates[i : i + per_call])


def insert_rows(conn: psycopg.Connection[Any], insert: str, rows: list[Any], per_tx: int) -> None:
    for i in range(0, len(rows), per_tx):
        with conn.transaction():
            conn.cursor().executemany(insert, rows[i : i + per_tx])


def send_all(
    producer: KafkaProducer,
    topic: str,
    messages: list[tuple[bytes, bytes]],
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    futures = [producer.send(topic, key=k, value=v, headers=headers) for k, v in messages]
    producer.flush()
    for future in futures:
        future.get(timeout=60)


def commands(n: int) -> list[Any]:
    """`n` referral commands, as the API would pass them to the application service."""
    from services.commands import ReceiveReferral

    example = ReceiveReferral.model_json_schema()["examples"][1]
    return [
        ReceiveReferral.model_validate(
            {
                **{k: v for k, v in example.items() if k != "occurred_at"},
                "referrer": {"principal": "bench.officer", "organisation": "Bench PD"},
                "person": {"given_name": "Bench", "family_name": f"Person{i}"},
            }
        )
        for i in range(n)
    ]


def _in_threads(work: Callable[[list[Any]], object], items: list[Any], writers: int) -> None:
    """`work` on `writers` threads at once, each given its share of `items`."""
    threads = [threading.Thread(target=work, args=(items[i::writers],)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def bench_append(container: Any, events: int, rounds: int) -> list[Figure]:
    """Commands through the application service into the event store, against psycopg
    inserting the same serialized rows into a table of the same shape: one command per
    call, 100 per call (the application's `save` of 100 referrals), and four writers at
    once (what the store's table lock costs: raw inserts run side by side)."""
    app = container.application
    policy = app.policy_in_force(datetime.now(UTC).date())
    n = max(events // 2, 1)  # a referral is two events (received, screened)
    single = Figure("append, one command per call", "events/s", goal=0.5)
    batched = Figure("append, 100 commands per call", "events/s", goal=0.5)
    parallel = Figure("append, 4 writers, one command each", "events/s", goal=0.5)
    # The store alone (its recorder: the table lock, the chain trigger, the notification),
    # given the rows ready made, two per call: what the command path adds is the rest.
    store = Figure("append floor: the store, rows ready made", "events/s")
    scratch = f"bench_rows_{uuid.uuid4().hex[:8]}"

    def receive(batch: list[Any]) -> None:
        for command in batch:
            app.receive_referral(command, OFFICER)

    def stored() -> int:
        return int(app.recorder.max_notification_id() or 0)

    def ready_made() -> list[list[Any]]:
        """`n` referrals as the store's rows, one list per referral."""
        return [
            list(map(app.mapper.to_stored_event, r.collect_events())) for r in referrals(policy, n)
        ]

    def append_each(made: list[list[Any]]) -> None:
        for stored_events in made:
            app.recorder.insert_events(stored_events)

    def counted(work: Callable[[], object]) -> float:
        before = stored()
        started = time.perf_counter()
        work()
        return (stored() - before) / max(time.perf_counter() - started, 1e-9)

    with psycopg.connect(container.settings.dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {scratch} (originator_id uuid NOT NULL, originator_version bigint "
            "NOT NULL, topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        insert = (
            f"INSERT INTO {scratch} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)"
        )

        def raw(rows: list[Any], per_tx: int) -> None:
            with psycopg.connect(container.settings.dsn, autocommit=True) as own:
                insert_rows(own, insert, rows, per_tx)

        try:
            for _ in range(rounds):
                single.backend.append(counted(functools.partial(receive, commands(n))))
                batched.backend.append(
                    counted(functools.partial(save, app, referrals(policy, n), 100))
                )
                parallel.backend.append(
                    counted(functools.partial(_in_threads, receive, commands(n), 4))
                )
                store.backend.append(counted(functools.partial(append_each, ready_made())))
                rows = [
                    (s.originator_id, s.originator_version, s.topic, s.state)
                    for stored_events in ready_made()
                    for s in stored_events
                ]
                for figure, work in (
                    (single, functools.partial(insert_rows, conn, insert, rows, 2)),
                    (batched, functools.partial(insert_rows, conn, insert, rows, 200)),
                    (
                        parallel,
                        functools.partial(_in_threads, functools.partial(raw, per_tx=2), rows, 4),
                    ),
                ):
                    figure.baseline.append(rate(len(rows), work))
                    conn.execute(f"TRUNCATE {scratch}")
                store.baseline.append(single.baseline[-1])
        finally:
            conn.execute(f"DROP TABLE {scratch}")
    return [single, batched, parallel, store]


def _topic(bootstrap: str, partitions: int) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(**client_kwargs(), bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()
    return name


def bench_relay(container: Any, events: int, rounds: int) -> list[Figure]:
    """The outbox relay publishing stored events, against kafka-python's idempotent
    producer sending the same CloudEvents (built beforehand)."""
    settings = container.settings
    sealed = container.sealed_application
    figure = Figure("relay, store -> lead.events.v1", "events/s", goal=0.8)
    policy = container.application.policy_in_force(datetime.now(UTC).date())
    for _ in range(rounds):
        save(container.application, referrals(policy, max(events // 2, 1)), 200)
        topic = _topic(settings.bootstrap_servers, settings.topic_partitions)
        position = RelayPosition(settings.dsn, name=topic)
        start = (sealed.recorder.max_notification_id() or 0) - 2 * max(events // 2, 1)
        position.save(start)
        relay = OutboxRelay(
            sealed.recorder,
            sealed.mapper,
            make_producer(settings.bootstrap_servers),
            position,
            source=container.source,
            batch_size=settings.relay_batch_size,
            topic=topic,
        )

        def drain(relay: OutboxRelay = relay) -> None:
            while relay.run_once():
                pass

        figure.backend.append(rate(2 * max(events // 2, 1), drain))
        relay.producer.close()
        notifications = sealed.recorder.select_notifications(start=start + 1, limit=events + 2)
        messages = []
        for n in notifications:
            event = sealed.mapper.to_domain_event(n)
            assert isinstance(event, DomainEvent)
            messages.append(
                (
                    event.partition_key.encode(),
                    envelope(event, position=n.id, source=container.source).to_json(),
                )
            )
        raw_topic = _topic(settings.bootstrap_servers, settings.topic_partitions)
        producer: KafkaProducer = make_producer(settings.bootstrap_servers)

        figure.baseline.append(
            rate(
                len(messages),
                functools.partial(send_all, producer, raw_topic, messages, relay.headers),
            )
        )
        producer.close()
    return [figure]


def _lag(container: Any) -> int:
    """Messages the furthest-behind view has yet to apply (as `lead projections status`)."""
    from infra.read_side import projection_status

    settings = container.settings
    statuses = projection_status(settings.dsn, settings.bootstrap_servers, container.projections)
    return max(s.lag for s in statuses)


def _spawn(name: str, settings: Any) -> subprocess.Popen[bytes]:
    from infra.processes import ends_with_parent

    log = settings.data_dir / "logs" / f"bench-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", name],
            env={**os.environ, **settings.environ()},
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=ends_with_parent(),
        )


def _publish_pending(container: Any) -> None:
    relay = container.relay()
    try:
        while relay.run_once():
            pass
    finally:
        relay.producer.close()


def _bare_consume(
    bootstrap: str,
    starts: dict[int, int],
    ends: dict[int, int],
    work: Callable[[bytes], object] | None = None,
) -> int:
    """A bare aiokafka consumer reading partitions from `starts` up to `ends`, discarding
    (or giving each message's value to `work`)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as Partition

    async def consume() -> int:
        consumer = AIOKafkaConsumer(
            **aiokafka_kwargs(),
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            parts = [Partition(EVENTS, p) for p in ends]
            consumer.assign(parts)
            for tp in parts:
                consumer.seek(tp, starts.get(tp.partition, 0))
            count = 0
            remaining = {tp for tp in parts if starts.get(tp.partition, 0) < ends[tp.partition]}
            while remaining:
                fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
                for tp, records in fetched.items():
                    mine = [r for r in records if r.offset < ends[tp.partition]]
                    count += len(mine)
                    if work is not None:
                        for r in mine:
                            work(r.value)
                remaining = {
                    tp for tp in remaining if await consumer.position(tp) < ends[tp.partition]
                }
            return count
        finally:
            await consumer.stop()

    return asyncio.run(consume())


def bench_project(container: Any, events: int, rounds: int) -> list[Figure]:
    """The faust agents applying a backlog to every view, against a bare consumer reading
    the same messages and discarding them."""
    from infra.read_side import end_offsets

    settings = container.settings
    figure = Figure("project, topic -> every view", "events/s", goal=0.5)
    # What any consumer of these events must at least do, against the same bare consumer:
    # decode each event (the CloudEvent, then its model), and then project it in memory.
    from consumers.projector import Projector

    decoding = Figure("project floor: bare consumer + decode", "events/s")
    projecting = Figure("project floor: + every view in memory", "events/s")
    projector = Projector(settings.dsn, container.projections, opener=container.opener)

    def decode(value: bytes) -> object:
        return decode_opening(CloudEvent.from_json(value), projector.opener, projector.opens)

    policy = container.application.policy_in_force(datetime.now(UTC).date())
    worker = _spawn("consumers", settings)  # catch up with whatever is there first
    try:
        _publish_pending(container)
        _wait(lambda: _lag(container) == 0, 600)
    finally:
        _stop(worker)
    for _ in range(rounds):
        with psycopg.connect(settings.dsn) as conn:
            row = conn.execute(
                'SELECT partition, min("offset") FROM projection_positions WHERE topic = %s '
                "GROUP BY partition",
                (EVENTS,),
            ).fetchall()
        starts = {int(p): int(o) + 1 for p, o in row}
        save(container.application, referrals(policy, max(events // 2, 1)), 200)
        _publish_pending(container)
        ends = {p: e for p, (_, e) in end_offsets(settings.bootstrap_servers).items()}
        backlog = _lag(container)
        spawned = time.perf_counter()
        worker = _spawn("consumers", settings)
        try:
            _wait(functools.partial(_below, container, backlog), 120)  # the worker started
            started, remaining = time.perf_counter(), _lag(container)
            if remaining == 0:  # a backlog too small to time once started: count start-up
                started, remaining = spawned, backlog
            _wait(lambda: _lag(container) == 0, 600)
            figure.backend.append(remaining / max(time.perf_counter() - started, 1e-9))
        finally:
            _stop(worker)
        count = sum(ends[p] - starts.get(p, 0) for p in ends)
        bare = functools.partial(_bare_consume, settings.bootstrap_servers, starts, ends)
        figure.baseline.append(rate(count, bare))
        for floor, work in ((decoding, decode), (projecting, projector.changes)):
            floor.backend.append(rate(count, functools.partial(bare, work)))
            floor.baseline.append(figure.baseline[-1])
    return [figure, decoding, projecting]


def _below(container: Any, backlog: int) -> bool:
    return _lag(container) < backlog


def _wait(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark step did not finish within {timeout}s")
        time.sleep(0.2)  # each check reads offsets from Kafka: not too often


def _stop(proc: subprocess.Popen[bytes]) -> None:
    from infra.processes import terminate

    terminate(proc.pid, timeout=20)
    proc.wait()


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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_latency(container: Any, events: int, rounds: int) -> list[Figure]:
    """Command accepted -> row visible in the referrals view, at 200 commands/s, against a
    bare producer -> consumer round trip at the same rate."""
    settings = container.settings
    p50 = Figure("latency p50, command -> view", "ms", goal=10.0, better="lower")
    p99 = Figure("latency p99, command -> view", "ms", goal=10.0, better="lower")
    policy = container.application.policy_in_force(datetime.now(UTC).date())
    count = max(events // 2, 20)
    achieved: list[float] = []
    from infra.local_kafka import LocalKafka
    from infra.local_postgres import LocalPostgres

    procs = [_spawn("relay", settings), _spawn("consumers", settings)]
    who = {
        "relay": (procs[0].pid, False),
        "worker": (procs[1].pid, False),
        "bench": (os.getpid(), False),
        "kafka": (LocalKafka(settings).pid(), False),
        "postgres": (_postmaster(LocalPostgres(settings).pgdata), True),
    }
    used = dict.fromkeys(who, 0.0)
    try:
        _wait(lambda: _lag(container) == 0, 600)
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
            _stop(proc)
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

    _wait(visible, 300)


def _raw_round_trip(settings: Any, count: int) -> list[float]:
    topic = _topic(settings.bootstrap_servers, settings.topic_partitions)
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


def peak_mb(pid: int | None) -> float | None:
    """A process's peak resident memory (VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def cpu_seconds(pid: int | None, *, children: bool = False) -> float:
    """CPU time (user + system) a process has used so far; with `children`, plus that
    of its live child processes (PostgreSQL's backends)."""
    if pid is None:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        this, parent = int(stat.parent.name), int(fields[1])
        if this == pid or (children and parent == pid):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _postmaster(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def history_settings(settings: Any) -> Any:
    """A stack of its own for the long history, on ports next to the bench stack's."""
    return settings.model_copy(
        update={
            "data_dir": settings.data_dir / "history",
            "kafka_port": settings.kafka_port + 1000,
            "kafka_controller_port": settings.kafka_controller_port + 1000,
            "kafka_brokers": 1,
            "pg_port": settings.pg_port + 1000,
            "consumer_group": f"{settings.consumer_group}-history",
        }
    )


def _query_p99(
    work: Callable[[psycopg.Connection[Any], Any], object], conn: Any, args: list[Any], n: int
) -> float:
    """p99 in milliseconds of `work` over `n` calls cycling through `args`, each argument
    asked once first (untimed): the figure is of a warm server, at either size."""
    for arg in args:
        work(conn, arg)
    took = []
    for i in range(n):
        started = time.perf_counter()
        work(conn, args[i % len(args)])
        took.append((time.perf_counter() - started) * 1000)
    return percentile(took, 0.99)


def _queries(container: Any, calls: int) -> dict[str, float]:
    """Caseload and prosecutor-view p99 (ms), as the API runs them, minus HTTP."""
    from psycopg.rows import dict_row

    from projections import liaison
    from projections.caseloads import list_caseload
    from services.demo import LIAISON
    from services.reads import liaison_case_view

    app = container.application
    now = datetime.now(UTC)
    with psycopg.connect(container.settings.dsn, row_factory=dict_row) as conn:
        managers = [
            r["case_manager"]
            for r in conn.execute(
                "SELECT DISTINCT case_manager FROM proj_caseloads.participants ORDER BY 1"
            ).fetchall()
        ]
        people = liaison.person_ids_with_cases(conn)
        rnd = random.Random(3)  # noqa: S311  # which rows to ask for, not secrecy
        managers = rnd.sample(managers, min(50, len(managers)))
        people = rnd.sample(people, min(50, len(people)))
        return {
            "caseload": _query_p99(
                lambda c, m: list_caseload(c, m, now=now), conn, managers, calls
            ),
            "prosecutor view": _query_p99(
                lambda c, p: liaison_case_view(app, c, LIAISON, p), conn, people, calls
            ),
        }


def bench_history(container: Any, history: int, rounds: int, names: set[str]) -> list[Figure]:
    """`rebuild` (every view from offset 0 over `history` events, against the bare
    consumer reading the same topic) and `scale` (query p99 at 10,000 events of history
    and at `history`), on a copied demo site in a stack of its own."""
    from infra import stack
    from infra.bench_history import History, template
    from infra.bootstrap import Container
    from infra.local_kafka import LocalKafka
    from infra.local_postgres import LocalPostgres

    settings = history_settings(container.settings)
    small = min(10_000, history)
    calls = 300 * rounds
    stack.destroy(settings)
    stack.up(settings)
    figures = []
    try:
        built = Container(settings)
        built.prepare()
        # 100 participants make about 4,300 events: a smaller site for a short history.
        site = template(settings.site_id, participants=max(10, min(100, history // 400)))
        history_of = History(settings, site)
        history_of.append(small)
        built.rebuilder(*built.projections).run()
        at_small = _queries(built, calls)
        loaded = history_of.append(history - small)
        result = built.rebuilder(*built.projections).run()
        from infra.read_side import end_offsets

        ends = {p: e for p, (_, e) in end_offsets(settings.bootstrap_servers).items()}
        bare = rate(history, functools.partial(_bare_consume, settings.bootstrap_servers, {}, ends))
        at_large = _queries(built, calls)
        facts = _sizes(settings, history)
        facts.update(
            {
                "history_events": history,
                "rebuild_minutes": round(result.seconds / 60, 1),
                "load_seconds": round(loaded, 1),
                "kafka_peak_mb": peak_mb(LocalKafka(settings).pid()),
                "postmaster_peak_mb": peak_mb(_postmaster(LocalPostgres(settings).pgdata)),
                "bench_process_peak_mb": peak_mb(os.getpid()),
            }
        )
        if "rebuild" in names:
            figure = Figure(f"rebuild, {history:,} events", "events/s", goal=0.5, facts=facts)
            figure.backend.append(history / max(result.seconds, 1e-9))
            figure.baseline.append(bare)
            figures.append(figure)
        if "scale" in names:
            for query in at_small:
                figure = Figure(
                    f"scale, {query} p99 ({history:,} vs {small:,})",
                    "ms",
                    goal=1.5,
                    better="lower",
                )
                figure.backend.append(at_large[query])
                figure.baseline.append(at_small[query])
                figures.append(figure)
    finally:
        stack.destroy(settings)
    return figures


def _sizes(settings: Any, events: int) -> dict[str, Any]:
    """On-disk bytes per event: the store (events and their chain) and the topic's log."""
    from infra.local_kafka import LocalKafka

    with psycopg.connect(settings.dsn) as conn:
        row = conn.execute(
            "SELECT pg_total_relation_size('lead_events'), pg_total_relation_size('event_chain')"
        ).fetchone()
    store, chain = (int(v) for v in row) if row else (0, 0)
    log = sum(
        f.stat().st_size
        for d in LocalKafka(settings).data.glob(f"{EVENTS}-*")
        for f in d.iterdir()
        if f.suffix == ".log"
    )
    return {
        "postgres_bytes_per_event": round((store + chain) / events),
        "postgres_chain_bytes_per_event": round(chain / events),
        "kafka_bytes_per_event": round(log / events),
    }


BENCHMARKS: dict[str, Callable[[Any, int, int], list[Figure]]] = {
    "append": bench_append,
    "relay": bench_relay,
    "project": bench_project,
    "latency": bench_latency,
}
HISTORY = ("rebuild", "scale")
"""Benchmarks over a long copied history (`bench_history`), run together."""
NAMES = (*BENCHMARKS, *HISTORY)


def machine(container: Any) -> dict[str, Any]:
    with psycopg.connect(container.settings.dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "postgresql": row[0] if row else None,
        "kafka_topic": EVENTS,
        "at": datetime.now(UTC).isoformat(),
    }


def run(
    container: Any,
    names: list[str],
    *,
    events: int,
    rounds: int,
    out: Path | None,
    history: int = 1_000_000,
) -> list[dict[str, Any]]:
    figures: list[Figure] = []
    for name in names:
        if name in BENCHMARKS:
            figures.extend(BENCHMARKS[name](container, events, rounds))
    if wanted := {n for n in names if n in HISTORY}:
        figures.extend(bench_history(container, history, rounds, wanted))
    summaries = [f.summary() for f in figures]
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "machine": machine(container),
                    "parameters": {
                        "events": events,
                        "history": history,
                        "rounds": rounds,
                        "benchmarks": names,
                    },
                    "figures": summaries,
                    "raw": [asdict(f) for f in figures],
                },
                indent=2,
            )
            + "\n"
        )
    return summaries


def table(summaries: list[dict[str, Any]]) -> str:
    lines = [
        f"{'benchmark':34} {'backend':>12} {'baseline':>12} {'ratio':>7} "
        f"{'spread':>13} {'goal':>6}",
    ]
    for s in summaries:
        ratio = s["ratio"]
        sign = "<=" if s.get("better") == "lower" else ">="
        goal = f"{sign}{s['goal']}" if s["goal"] is not None else ""
        lines.append(
            f"{s['name']:34} {s['backend']['median']:>10.1f}{s['unit'][:2]:2} "
            f"{s['baseline']['median']:>10.1f}{s['unit'][:2]:2} "
            f"{ratio['median']:>7.2f} {ratio['min']:>6.2f}-{ratio['max']:<6.2f} {goal:>6}"
        )
    for s in summaries:
        if s.get("facts"):
            facts = ", ".join(f"{k} {v}" for k, v in s["facts"].items())
            lines.append(f"  {s['name']}: {facts}")
    return "\n".join(lines)
