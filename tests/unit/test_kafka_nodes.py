"""The local Kafka's nodes: ports, files and configuration, without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.local import stack
from infra.local.cluster import LocalKafkaCluster
from infra.local.kafka import LocalKafka
from infra.local.processes import StartupError
from infra.settings import Settings

SINGLE_NODE_CONFIG = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:59093
listeners=PLAINTEXT://127.0.0.1:59092,CONTROLLER://127.0.0.1:59093
advertised.listeners=PLAINTEXT://127.0.0.1:59092
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.partitions=1
"""


def config(node: LocalKafka) -> dict[str, str]:
    node.write_config()
    lines = node.config_file.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line)


def test_one_broker_is_configured_and_kept_where_it_always_was(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        kafka_port=59092,
        kafka_controller_port=59093,
        kafka_security_protocol="PLAINTEXT",
    )
    assert settings.kafka_brokers == 1
    assert settings.bootstrap_servers == "127.0.0.1:59092"
    assert (settings.topic_replication_factor, settings.topic_min_insync_replicas) == (1, 1)
    node = LocalKafka(settings)
    assert node.data == tmp_path / "kafka" / "data"
    assert node.pid_file == tmp_path / "kafka" / "kafka.pid"
    node.write_config()
    assert node.config_file.read_text() == SINGLE_NODE_CONFIG.format(data=node.data)


def test_three_brokers_replicate_topics_three_ways_unless_told_otherwise() -> None:
    settings = Settings(kafka_brokers=3, kafka_port=59400, kafka_controller_port=59401)
    assert settings.bootstrap_servers == "127.0.0.1:59400,127.0.0.1:59402,127.0.0.1:59404"
    assert [settings.kafka_node_ports(i) for i in range(3)] == [
        (59400, 59401),
        (59402, 59403),
        (59404, 59405),
    ]
    assert (settings.topic_replication_factor, settings.topic_min_insync_replicas) == (3, 2)
    explicit = Settings(kafka_brokers=3, topic_replication_factor=2, topic_min_insync_replicas=1)
    assert (explicit.topic_replication_factor, explicit.topic_min_insync_replicas) == (2, 1)
    two = Settings(kafka_brokers=2)
    assert (two.topic_replication_factor, two.topic_min_insync_replicas) == (1, 1)
    external = Settings(kafka_brokers=3, kafka_bootstrap="kafka-1:9092")
    assert external.bootstrap_servers == "kafka-1:9092"


def test_nodes_may_not_share_a_port() -> None:
    with pytest.raises(ValidationError, match="share a port"):
        Settings(kafka_brokers=2, kafka_port=59092, kafka_controller_port=59094)
    with pytest.raises(ValidationError):
        Settings(kafka_brokers=6)


def test_each_node_has_its_own_id_ports_folder_and_all_voters(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, kafka_brokers=3, kafka_port=59400, kafka_controller_port=59401
    )
    cluster = LocalKafkaCluster(settings)
    first, _, last = cluster.nodes
    assert first.data == tmp_path / "kafka" / "data"
    assert last.home == tmp_path / "kafka" / "node-2"
    assert last.pid_file == tmp_path / "kafka" / "node-2" / "kafka.pid"
    found = config(last)
    assert found["node.id"] == "3"
    assert found["controller.quorum.voters"] == (
        "1@127.0.0.1:59401,2@127.0.0.1:59403,3@127.0.0.1:59405"
    )
    assert found["listeners"] == "SASL_SSL://127.0.0.1:59404,CONTROLLER://127.0.0.1:59405"
    assert found["log.dirs"] == str(tmp_path / "kafka" / "node-2" / "data")
    assert found["offsets.topic.replication.factor"] == "3"
    assert found["transaction.state.log.replication.factor"] == "3"
    assert found["transaction.state.log.min.isr"] == "2"
    assert found["share.coordinator.state.topic.replication.factor"] == "3"
    assert found["share.coordinator.state.topic.min.isr"] == "2"
    assert found["min.insync.replicas"] == "2"


def test_every_listener_is_sasl_ssl_with_scram_and_acls_by_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, kafka_port=59092, kafka_controller_port=59093)
    node = LocalKafka(settings)
    found = config(node)
    assert found["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL"
    assert found["inter.broker.listener.name"] == "SASL_SSL"
    assert found["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    # SCRAM credentials live in the metadata log the controllers replicate: among
    # themselves they use PLAIN, inside TLS, with the one user their JAAS lists.
    assert found["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    assert found["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert found["authorizer.class.name"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert found["allow.everyone.if.no.acl.found"] == "false"
    assert found["super.users"] == "User:lead-admin"
    assert found["ssl.keystore.type"] == "PEM"
    password = (tmp_path / "kafka" / "credentials" / "lead-admin").read_text().strip()
    controller_jaas = found["listener.name.controller.plain.sasl.jaas.config"]
    assert f'user_lead-admin="{password}"' in controller_jaas
    assert controller_jaas.count("user_") == 1
    # the admin's password is in the config and the keystore holds the broker's key
    for secret in (node.config_file, tmp_path / "kafka" / "keystore.pem"):
        assert secret.stat().st_mode & 0o077 == 0


def test_storage_formatted_for_plaintext_is_not_started_secured(tmp_path: Path) -> None:
    """A stack formatted before SASL_SSL has no admin credential in its metadata: it is
    refused with what to do, not started to fail authentication forever."""
    (tmp_path / "kafka" / "data").mkdir(parents=True)
    (tmp_path / "kafka" / "data" / "meta.properties").write_text("cluster.id=abc\n")
    settings = Settings(data_dir=tmp_path, kafka_port=59092, kafka_controller_port=59093)
    with pytest.raises(StartupError, match=r"formatted for PLAINTEXT.*lead infra down"):
        LocalKafka(settings).launch()


def test_storage_formatted_for_one_node_is_not_started_as_three(tmp_path: Path) -> None:
    (tmp_path / "kafka" / "data").mkdir(parents=True)
    (tmp_path / "kafka" / "data" / "meta.properties").write_text("cluster.id=abc\n")
    settings = Settings(data_dir=tmp_path, kafka_brokers=3)
    with pytest.raises(StartupError, match="formatted for 1 node"):
        LocalKafkaCluster(settings).start()
    # stopping and showing go by what is formatted, whatever the settings say
    (tmp_path / "kafka" / "quorum-size").write_text("3\n")
    assert len(LocalKafkaCluster.as_formatted(Settings(data_dir=tmp_path)).nodes) == 3


def test_status_says_one_line_per_node(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        kafka_brokers=3,
        kafka_port=59414,
        kafka_controller_port=59415,
        database_url="postgresql://lead@db.internal/lead",
    )
    lines = stack.status(settings)
    assert lines[1:] == [
        f"kafka-{i}   stopped  127.0.0.1:{59414 + 2 * i}  (node.id {i + 1}, controller "
        f":{59415 + 2 * i}, pid None, data {LocalKafkaCluster(settings).nodes[i].data})"
        for i in range(3)
    ]
