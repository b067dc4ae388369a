"""The test stack's broker refuses who it should: no credential, a wrong password, no
TLS; and a component's credential reaches only what its ACLs grant."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from events.topics import AUDIT, DEADLETTER, EVENTS, PROSECUTION, projection_topic
from infra.kafka_security import auth_for
from infra.settings import Settings

ALL_TOPICS = (EVENTS, PROSECUTION, AUDIT, DEADLETTER, projection_topic("referrals"))


def listeners(settings: Settings) -> list[str]:
    """Every listener of the local node: the clients' and the controllers'."""
    port, controller = settings.kafka_node_ports(0)
    return [f"127.0.0.1:{port}", f"127.0.0.1:{controller}"]


def can_list_topics(bootstrap: str, **kwargs: Any) -> bool:
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            **kwargs,
        )
    except KafkaError:
        return False
    try:
        consumer.topics()
        return True
    except KafkaError:
        return False
    finally:
        consumer.close()


def test_the_admin_credential_is_accepted(settings: Settings) -> None:
    """The control: the checks below can tell accepted from refused."""
    kwargs = auth_for(settings, "admin").kafka_python()
    assert can_list_topics(settings.bootstrap_servers, **kwargs)


@pytest.mark.parametrize("listener", [0, 1], ids=["client", "controller"])
def test_plaintext_anonymous_and_wrong_password_are_refused(
    settings: Settings, listener: int
) -> None:
    address = listeners(settings)[listener]
    good = auth_for(settings, "admin").kafka_python()
    assert not can_list_topics(address)  # PLAINTEXT, no credential
    no_tls = {**good, "security_protocol": "SASL_PLAINTEXT"}
    no_tls.pop("ssl_context")
    assert not can_list_topics(address, **no_tls)  # the right password, without TLS
    wrong = {**good, "sasl_plain_password": "not-the-password"}
    assert not can_list_topics(address, **wrong)
    anonymous_tls = {"security_protocol": "SSL", "ssl_context": good["ssl_context"]}
    assert not can_list_topics(address, **anonymous_tls)  # TLS, no SASL


def fetch(settings: Settings, component: str, topic: str) -> int:
    """How many records `component` fetches from the start of the topic's partition 0
    (raises what the broker answers when it may not)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        **auth_for(settings, component).kafka_python(),
    )
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        got = 0
        for _ in range(3):
            got += sum(len(r) for r in consumer.poll(timeout_ms=1000).values())
        return got
    finally:
        consumer.close()


def put_one_record_on_every_topic(settings: Settings) -> None:
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        **auth_for(settings, "admin").kafka_python(),
    )
    try:
        for topic in ALL_TOPICS:
            producer.send(topic, key=b"k", value=b"{}", partition=0).get(timeout=10)
    finally:
        producer.close()


READS = {
    "relay": {EVENTS},
    "workers": {EVENTS, AUDIT},
    "api": {EVENTS, projection_topic("referrals")},
    "replay": {DEADLETTER},
}


@pytest.mark.parametrize("component", sorted(READS))
def test_a_component_reads_its_topics_and_is_refused_the_others(
    settings: Settings, component: str
) -> None:
    put_one_record_on_every_topic(settings)
    for topic in ALL_TOPICS:
        if topic in READS[component]:
            assert fetch(settings, component, topic) > 0, topic
        else:  # an authorization error, or (no DESCRIBE: the topic is hidden) nothing
            try:
                got = fetch(settings, component, topic)
            except TopicAuthorizationFailedError:
                got = 0
            assert got == 0, f"{component} read {topic}"


def test_a_component_may_not_write_where_it_only_reads(settings: Settings) -> None:
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        max_block_ms=5000,
        **auth_for(settings, "workers").kafka_python(),
    )
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(EVENTS, value=b"forged").get(timeout=10)
    finally:
        producer.close()


def test_a_component_may_not_join_a_group_not_its_own(settings: Settings) -> None:
    consumer = KafkaConsumer(
        EVENTS,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=f"someone-else-{uuid.uuid4().hex[:6]}",
        **auth_for(settings, "api").kafka_python(),
    )
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            for _ in range(5):
                consumer.poll(timeout_ms=2000)
    finally:
        consumer.close()
