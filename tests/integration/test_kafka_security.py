"""The broker refuses who it should, on a stack of this module's own: no credential, a
wrong password, no TLS, on the clients' and the controllers' listeners; a component's
credential reaches only what its ACLs grant; an external client issued by
`lead kafka-clients add` reads its kind's topics with its own groups, gets an
authorization error (never data) everywhere else, and is refused once revoked. Apache
Kafka's own console consumer is one of the clients."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from events.topics import AUDIT, DEADLETTER, EVENTS, PROSECUTION, projection_topic
from infra.kafka.security import KafkaAuth, auth_for
from infra.local.kafka import LocalKafka
from infra.local.pki import pki_dir
from infra.settings import Settings
from tests.conftest import own_stack, run_lead

REFERRALS = projection_topic("referrals")
ALL_TOPICS = (EVENTS, PROSECUTION, AUDIT, DEADLETTER, REFERRALS)
QUICK = {"request_timeout_ms": 8000, "bootstrap_timeout_ms": 8000}
ENV: dict[str, str] = {}


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    with own_stack("kafka-security", 200) as (own, env):
        ENV.update({**os.environ, **env})
        put_one_record_on_every_topic(own)
        yield own


def lead(*args: str) -> subprocess.CompletedProcess[str]:
    from tests.conftest import subprocess_env

    return run_lead(*args, env={**subprocess_env(), **ENV})


def listeners(settings: Settings) -> list[str]:
    """Every listener of the local node: the clients' and the controllers'."""
    port, controller = settings.kafka_node_ports(0)
    return [f"127.0.0.1:{port}", f"127.0.0.1:{controller}"]


def can_list_topics(bootstrap: str, **kwargs: Any) -> bool:
    try:
        consumer = KafkaConsumer(  # a refusal shows as a bootstrap that never completes
            bootstrap_servers=bootstrap,
            group_id=None,
            **{**QUICK, "bootstrap_timeout_ms": 4000},
            **kwargs,
        )
    except KafkaError as exc:
        print("refused:", repr(exc))
        return False
    try:
        consumer.topics()
        return True
    except KafkaError as exc:
        print("refused:", repr(exc))
        return False
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


def refused_topics(settings: Settings, kwargs: dict[str, Any]) -> set[str]:
    """The topics of ALL_TOPICS whose metadata the broker refuses this credential."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, **QUICK, **kwargs)
    try:
        described = admin.describe_topics(list(ALL_TOPICS))
    finally:
        admin.close()
    return {t["name"] for t in described if t["error_code"] == 29}  # TOPIC_AUTHORIZATION_FAILED


def fetch(settings: Settings, kwargs: dict[str, Any], topic: str) -> int:
    """How many records these credentials fetch from the start of partition 0."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        **QUICK,
        **kwargs,
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


def fetch_nothing(settings: Settings, kwargs: dict[str, Any], topic: str) -> bool:
    """No record of the topic reaches these credentials: the fetch is refused (a topic
    they may describe but not read), or the client finds no partition to fetch from (one
    they may not even describe: its metadata is an authorization error, `refused_topics`)."""
    try:
        return fetch(settings, kwargs, topic) == 0
    except TopicAuthorizationFailedError:
        return True


def subscribe_and_poll(settings: Settings, kwargs: dict[str, Any], topic: str, group: str) -> int:
    """What a client subscribing as `group` gets: records, or the broker's refusal."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        **QUICK,
        **kwargs,
    )
    try:
        got = 0
        for _ in range(10):
            got += sum(len(r) for r in consumer.poll(timeout_ms=1000).values())
            if got:
                break
        return got
    finally:
        consumer.close()


# -- the listeners --------------------------------------------------------------------


def test_the_admin_credential_is_accepted(settings: Settings) -> None:
    """The control: the checks below can tell accepted from refused."""
    assert can_list_topics(settings.bootstrap_servers, **auth_for(settings, "admin").kafka_python())


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


def quorum_tool(settings: Settings, tmp_path: Path, properties: str) -> int:
    """Apache Kafka's kafka-metadata-quorum, asking the controllers directly (their own
    listener) for the quorum's status with these client properties; its exit code."""
    config = tmp_path / "controller.properties"
    config.write_text(properties + "request.timeout.ms=5000\ndefault.api.timeout.ms=8000\n")
    done = subprocess.run(
        LocalKafka(settings)._java(
            "org.apache.kafka.tools.MetadataQuorumCommand",
            "--bootstrap-controller",
            listeners(settings)[1],
            "--command-config",
            str(config),
            "describe",
            "--status",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode


def test_the_controller_listener_takes_only_tls_and_the_admins_password(
    settings: Settings, tmp_path: Path
) -> None:
    ca = pki_dir(settings.data_dir) / "ca.crt"
    password = auth_for(settings, "admin").password()
    tls = f"ssl.truststore.type=PEM\nssl.truststore.location={ca}\n"

    def plain(user: str, secret: str) -> str:
        return (
            "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
            f'required username="{user}" password="{secret}";\n' + tls
        )

    assert quorum_tool(settings, tmp_path, plain("lead-admin", password)) == 0  # the control
    assert quorum_tool(settings, tmp_path, plain("lead-admin", "not-the-password")) != 0
    assert quorum_tool(settings, tmp_path, plain("lead-relay", password)) != 0
    assert quorum_tool(settings, tmp_path, "security.protocol=PLAINTEXT\n") != 0
    assert quorum_tool(settings, tmp_path, "security.protocol=SSL\n" + tls) != 0


def test_a_certificate_not_from_the_site_ca_is_not_trusted(settings: Settings) -> None:
    """A client trusting only the system CAs does not complete the handshake."""
    good = auth_for(settings, "admin")
    system_only = KafkaAuth(good.protocol, good.mechanism, good.username, good.password_file, None)
    assert not can_list_topics(settings.bootstrap_servers, **system_only.kafka_python())


# -- the components -------------------------------------------------------------------

READS = {
    "relay": {EVENTS},
    "workers": {EVENTS, AUDIT},
    "api": {EVENTS, REFERRALS},
    "replay": {DEADLETTER},
}


@pytest.mark.parametrize("component", sorted(READS))
def test_a_component_reads_its_topics_and_is_refused_the_others(
    settings: Settings, component: str
) -> None:
    kwargs = auth_for(settings, component).kafka_python()
    for topic in READS[component]:
        assert fetch(settings, kwargs, topic) > 0, topic
    refused = refused_topics(settings, kwargs)
    for topic in set(ALL_TOPICS) - READS[component]:
        assert fetch_nothing(settings, kwargs, topic), f"{component} read {topic}"
    # Every topic it may neither read nor write is an authorization error, not a gap.
    writes = {
        "relay": {AUDIT},
        "workers": {PROSECUTION, DEADLETTER, REFERRALS},
        "api": {AUDIT},
        "replay": {EVENTS, AUDIT},
    }[component]
    assert refused == set(ALL_TOPICS) - READS[component] - writes


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
    with pytest.raises(GroupAuthorizationFailedError):
        subscribe_and_poll(
            settings,
            auth_for(settings, "api").kafka_python(),
            EVENTS,
            f"someone-else-{uuid.uuid4().hex[:6]}",
        )


# -- external clients -----------------------------------------------------------------

KINDS = {"prosecution": {PROSECUTION}, "dashboard": {REFERRALS}, "auditor": {AUDIT}}


def add_client(settings: Settings, kind: str) -> tuple[str, dict[str, Any]]:
    name = f"{kind}-{uuid.uuid4().hex[:6]}"
    done = lead("kafka-clients", "add", name, "--kind", kind, "--org", "County")
    assert done.returncode == 0, done.stderr
    password = done.stdout.strip()
    assert len(password) >= 40 and "\n" not in password
    good = auth_for(settings, "admin")
    kwargs = {
        "security_protocol": "SASL_SSL",
        "ssl_context": good.ssl_context(),
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": name,
        "sasl_plain_password": password,
    }
    return name, kwargs


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_an_external_client_reads_its_kind_only_with_its_own_groups(
    settings: Settings, kind: str
) -> None:
    name, kwargs = add_client(settings, kind)
    (mine,) = KINDS[kind]
    assert subscribe_and_poll(settings, kwargs, mine, f"{name}.cases") > 0
    assert refused_topics(settings, kwargs) == set(ALL_TOPICS) - {mine}
    for topic in set(ALL_TOPICS) - {mine}:
        assert fetch_nothing(settings, kwargs, topic), f"{name} read {topic}"
    with pytest.raises(GroupAuthorizationFailedError):
        subscribe_and_poll(settings, kwargs, mine, "lead-projections-test")
    with pytest.raises(GroupAuthorizationFailedError):
        subscribe_and_poll(settings, kwargs, mine, f"{name}x")  # a prefix is not its own
    producer = KafkaProducer(  # not idempotent: it needs no cluster grant, so the topic's
        bootstrap_servers=settings.bootstrap_servers,  # refusal is what answers
        max_block_ms=5000,
        enable_idempotence=False,
        **QUICK,
        **kwargs,
    )
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(mine, value=b"forged").get(timeout=10)
    finally:
        producer.close()


def test_a_revoked_client_is_refused_on_its_next_fetch(settings: Settings) -> None:
    name, kwargs = add_client(settings, "prosecution")
    consumer = KafkaConsumer(
        PROSECUTION,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=f"{name}.cases",
        auto_offset_reset="earliest",
        **QUICK,
        **kwargs,
    )
    try:
        got = 0
        for _ in range(10):
            got += sum(len(r) for r in consumer.poll(timeout_ms=1000).values())
            if got:
                break
        assert got > 0
        done = lead("kafka-clients", "revoke", name, "--reason", "contract ended")
        assert done.returncode == 0, done.stderr
        consumer.seek_to_beginning()
        with pytest.raises((TopicAuthorizationFailedError, GroupAuthorizationFailedError)):
            for _ in range(15):
                assert not consumer.poll(timeout_ms=1000), "a revoked client got data"
    finally:
        consumer.close()
    assert not can_list_topics(settings.bootstrap_servers, **kwargs)  # a new connection
    listed = lead("kafka-clients", "list")
    line = next(line for line in listed.stdout.splitlines() if line.startswith(name))
    assert "revoked" in line and "contract ended" in line


def test_names_are_refused_when_taken_or_malformed(settings: Settings) -> None:
    name, _ = add_client(settings, "dashboard")
    again = lead("kafka-clients", "add", name, "--kind", "auditor", "--org", "County")
    assert again.returncode == 1 and "taken" in again.stderr
    for bad in ("lead-relay", "Upper", "a", "semi;colon"):
        done = lead("kafka-clients", "add", bad, "--kind", "auditor", "--org", "County")
        assert done.returncode == 2 and "name" in done.stderr, bad
    unknown = lead("kafka-clients", "revoke", "nobody-here")
    assert unknown.returncode == 1 and "no Kafka client" in unknown.stderr


def console_consumer(
    settings: Settings, tmp_path: Path, name: str, password: str, topic: str
) -> subprocess.CompletedProcess[str]:
    """Apache Kafka's kafka-console-consumer, as a prosecutor's IT would run it."""
    config = tmp_path / f"{name}.properties"
    config.write_text(
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{name}" password="{password}";\n'
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={pki_dir(settings.data_dir) / 'ca.crt'}\n"
    )
    kafka = LocalKafka(settings)
    return subprocess.run(
        kafka._java(
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            "--bootstrap-server",
            settings.bootstrap_servers,
            "--topic",
            topic,
            "--group",
            f"{name}.console",
            "--from-beginning",
            "--max-messages",
            "1",
            "--timeout-ms",
            "20000",
            "--consumer.config",
            str(config),
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_kafkas_console_consumer_reads_the_prosecution_topic_and_nothing_else(
    settings: Settings, tmp_path: Path
) -> None:
    name, kwargs = add_client(settings, "prosecution")
    password = kwargs["sasl_plain_password"]
    read = console_consumer(settings, tmp_path, name, password, PROSECUTION)
    assert read.returncode == 0, read.stderr[-2000:]
    assert "{}" in read.stdout.splitlines(), read.stdout[-2000:]
    refused = console_consumer(settings, tmp_path, name, password, EVENTS)
    assert "{}" not in refused.stdout.splitlines()
    said = refused.stdout + refused.stderr
    assert "TopicAuthorizationException" in said, said[-2000:]
