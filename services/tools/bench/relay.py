"""The relay benchmark: the outbox relay publishing stored events, against a bare
idempotent producer sending the same CloudEvents."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer

from events.base import DomainEvent
from events.envelope import envelope
from infra.kafka.relay import OutboxRelay, PostgresRelayPosition, make_producer
from services.tools.bench.measure import Figure, rate
from services.tools.bench.workload import new_topic, referrals, save


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


def bench_relay(container: Any, events: int, rounds: int) -> list[Figure]:
    """The outbox relay publishing stored events, against kafka-python's idempotent
    producer sending the same CloudEvents (built beforehand)."""
    settings = container.settings
    sealed = container.sealed_application
    figure = Figure("relay, store -> lead.events.v1", "events/s", goal=0.8)
    policy = container.application.policy_in_force(datetime.now(UTC).date())
    for _ in range(rounds):
        save(container.application, referrals(policy, max(events // 2, 1)), 200)
        topic = new_topic(settings.bootstrap_servers, settings.topic_partitions)
        position = PostgresRelayPosition(settings.dsn, name=topic)
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
        raw_topic = new_topic(settings.bootstrap_servers, settings.topic_partitions)
        producer: KafkaProducer = make_producer(settings.bootstrap_servers)

        figure.baseline.append(
            rate(
                len(messages),
                functools.partial(send_all, producer, raw_topic, messages, relay.headers),
            )
        )
        producer.close()
    return [figure]
