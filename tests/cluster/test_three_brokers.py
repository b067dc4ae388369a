"""Three brokers: topics replicated three ways, and the relay through broker failures.

With replication factor 3 and min.insync.replicas 2 the relay's acks=all producer
keeps publishing with one broker down. With two down nothing is acknowledged, so
the relay's durable position stays put; once they are back, everything stored is
on the topic. Run with `pytest tests/cluster -m cluster -s` to see the figures.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from events.topics import EVENTS
from infra.kafka.relay import OutboxRelay, PostgresRelayPosition
from infra.kafka.security import client_kwargs
from services.commands import ReceiveReferral
from tests.cluster.conftest import Cluster
from tests.factories import OFFICER, referral_body
from tests.kafka_reader import read_all

pytestmark = pytest.mark.cluster


def test_topics_are_replicated_three_ways_with_two_in_sync(cluster: Cluster) -> None:
    admin = KafkaAdminClient(
        **client_kwargs(), bootstrap_servers=cluster.settings.bootstrap_servers
    )
    try:
        (topic,) = admin.describe_topics([EVENTS])
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, EVENTS)])
        broker = admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, "1")], config_filter="all"
        )
    finally:
        admin.close()
    partitions = topic["partitions"]
    assert len(partitions) == cluster.settings.topic_partitions
    for p in partitions:
        assert sorted(p["replica_nodes"]) == [1, 2, 3]
        assert sorted(p["isr_nodes"]) == [1, 2, 3]
    assert len({p["leader_id"] for p in partitions}) > 1  # leadership is spread
    assert configs["topic"][EVENTS]["min.insync.replicas"]["value"] == "2"
    internal = {name: entry["value"] for name, entry in broker["broker"]["1"].items()}
    assert internal["offsets.topic.replication.factor"] == "3"
    assert internal["transaction.state.log.replication.factor"] == "3"
    assert internal["transaction.state.log.min.isr"] == "2"
    assert internal["min.insync.replicas"] == "2"  # for the offsets topic
    print(f"\n{EVENTS}: {len(partitions)} partitions, replicas [1, 2, 3], min.insync.replicas 2")


@dataclass
class RelayLoop:
    """The relay as `lead relay` runs it (run_once in a loop), in a thread, observed."""

    relay: OutboxRelay
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)
    longest_call: float = 0.0
    last_progress: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, name="relay", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                published = self.relay.run_once()
            except Exception as exc:  # the relay process would be restarted; we go on
                self.errors.append(f"{type(exc).__name__}: {exc}")
                published = 0
            self.longest_call = max(self.longest_call, time.monotonic() - began)
            if published:
                self.last_progress = time.monotonic()
            else:
                self.stop.wait(0.2)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=180)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.25)
    return time.monotonic() - began


@dataclass(frozen=True)
class TopicCopy:
    records: int
    ids: set[str]
    positions: set[int]


def topic_copy(cluster: Cluster) -> TopicCopy:
    records = read_all(cluster.settings.bootstrap_servers, EVENTS)
    values = [json.loads(r.value) for r in records]
    return TopicCopy(len(records), {v["id"] for v in values}, {int(v["sequence"]) for v in values})


def test_the_relay_publishes_through_one_broker_down_and_resumes_after_two(
    cluster: Cluster,
) -> None:
    app = cluster.container.application
    recorder = cluster.container.sealed_application.recorder
    tag = f"org-{uuid.uuid4()}"
    position = PostgresRelayPosition(cluster.settings.dsn)

    def save(count: int) -> None:
        for n in range(count):
            body = referral_body(organisation=tag, n=n)
            app.receive_referral(ReceiveReferral.model_validate(body), OFFICER)

    def stored() -> list[int]:
        return [n.id for n in recorder.select_notifications(start=None, limit=1_000_000)]

    def all_published() -> bool:
        return position.load() == max(stored())

    report = ["", f"{'':26}{'stored':>7}{'relayed':>8}{'on topic':>9}{'distinct':>9}  timing"]

    def figures(phase: str, copy: TopicCopy | None, timing: str) -> None:
        records, distinct = (f"{copy.records}", f"{len(copy.ids)}") if copy else ("-", "-")
        report.append(
            f"{phase:26}{len(stored()):>7}{position.load():>8}{records:>9}{distinct:>9}  {timing}"
        )

    loop = RelayLoop(cluster.container.relay())
    began = time.monotonic()
    try:
        # All three up.
        save(40)
        wait_until(all_published, 60, "publishing with three brokers")
        figures("3 brokers up", topic_copy(cluster), f"{time.monotonic() - began:.1f}s to publish")

        # (b) One broker killed while referrals arrive and the relay publishes them: it
        # keeps publishing, and every event is on the topic exactly once.
        save(30)
        killed_at = time.monotonic()
        cluster.kafka.kill(0)
        save(70)
        wait_until(all_published, 180, "publishing with one broker down")
        copy = topic_copy(cluster)
        figures(
            "node 0 SIGKILLed",
            copy,
            f"all published {time.monotonic() - killed_at:.1f}s after the kill; longest "
            f"relay call {loop.longest_call:.1f}s; relay errors {len(loop.errors)}",
        )
        assert copy.records == len(copy.ids) == len(stored())  # every event exactly once
        assert copy.positions == set(stored())

        # (c) A second broker killed: no quorum, no in-sync pair. Nothing is acknowledged,
        # so the durable position does not move past what Kafka has.
        cluster.kafka.kill(1)
        before = position.load()
        published_before = loop.relay.published
        save(40)
        time.sleep(20)
        assert position.load() == before
        assert loop.relay.published == published_before
        assert len(stored()) > before
        # (the topic cannot be read now: the partitions led by the dead nodes have no leader)
        figures("node 1 SIGKILLed too", None, "20s later: relay position unchanged")

        restarted_at = time.monotonic()
        cluster.kafka.start()  # both nodes, together
        cluster_back = time.monotonic() - restarted_at
        wait_until(lambda: loop.last_progress > restarted_at, 300, "the relay resuming")
        resumed = loop.last_progress - restarted_at
        wait_until(all_published, 300, "publishing after the restart")
        copy = topic_copy(cluster)
        figures(
            "nodes 0 and 1 restarted",
            copy,
            f"nodes back {cluster_back:.1f}s, relay publishing {resumed:.1f}s, all published "
            f"{time.monotonic() - restarted_at:.1f}s after the restart began; "
            f"relay errors {len(loop.errors)}",
        )
        missing = set(stored()) - copy.positions
        assert not missing, f"{len(missing)} stored events are not on the topic"
        assert len(copy.ids) == len(stored())
        assert copy.positions == set(stored())
    finally:
        loop.close()
        with contextlib.suppress(Exception):  # a failed test may leave it unflushed
            loop.relay.producer.close(timeout=10)
        position.close()

    report += [f"relay error: {error}" for error in loop.errors[-3:]]
    print("\n".join(report))
