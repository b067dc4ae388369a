"""One local Apache Kafka node (KRaft, broker + controller) on 127.0.0.1.

The broker's jars come from Maven Central through ``infra/kafka/pom.xml`` and are
cached in the data folder; the storage is formatted on first use.

With ``Settings.kafka_brokers`` = N the nodes 0..N-1 are the static voters of one
controller quorum (``infra/local/cluster.py`` runs them together). Node i has
``node.id`` i+1, listens on ``kafka_port + 2i`` for clients and on
``kafka_controller_port + 2i`` for the quorum, and keeps its files in
``<data_dir>/kafka`` (node 0: where the single broker always kept them) or in
``<data_dir>/kafka/node-<i>``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from infra.kafka.security import ADMIN_USER, auth_for, ensure_local_password
from infra.local.pki import server_certificate, site_ca
from infra.local.processes import (
    StartupError,
    pid_alive,
    port_open,
    read_pid,
    spawn,
    terminate,
    wait_for_port,
)
from infra.settings import Settings

KAFKA_DIR = Path(__file__).resolve().parent.parent / "kafka"
SECURED_FILE = "lead-sasl-ssl"
"""In each node's folder: its storage was formatted with the admin's SCRAM
credential (absent: formatted for PLAINTEXT, before SASL_SSL)."""
QUORUM_FILE = "quorum-size"
"""In node 0's folder: how many voters the storage was formatted for (absent: 1)."""


def kafka_home(settings: Settings) -> Path:
    return settings.data_dir / "kafka"


def formatted_quorum(settings: Settings) -> int | None:
    """How many nodes the local storage was formatted for; None when it is not formatted."""
    home = kafka_home(settings)
    if not (home / "data" / "meta.properties").exists():
        return None
    try:
        return int((home / QUORUM_FILE).read_text().strip())
    except (OSError, ValueError):
        return 1  # formatted before there could be more than one node


class LocalKafka:
    """Fetches, formats, starts and stops one local node."""

    def __init__(self, settings: Settings, node: int = 0) -> None:
        if not 0 <= node < settings.kafka_brokers:
            raise ValueError(f"no node {node} among {settings.kafka_brokers}")
        self.settings = settings
        self.node = node
        self.node_id = node + 1
        self.home = kafka_home(settings) if node == 0 else kafka_home(settings) / f"node-{node}"
        self.lib = settings.cache_dir / "kafka-lib"
        self.data = self.home / "data"
        self.logs = self.home / "logs"
        self.pid_file = self.home / "kafka.pid"
        self.port, self.controller_port = settings.kafka_node_ports(node)

    # -- jars -------------------------------------------------------------
    def fetched(self) -> bool:
        stamp = self.lib / ".complete"
        return stamp.exists() and stamp.read_text() == self._pom_digest()

    def _pom_digest(self) -> str:
        import hashlib

        return hashlib.sha256((KAFKA_DIR / "pom.xml").read_bytes()).hexdigest()

    def fetch(self) -> None:
        """Resolve the broker's jars from Maven Central (once; cached)."""
        if self.fetched():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StartupError("Maven (mvn) is needed to fetch the Kafka broker's jars.")
        shutil.rmtree(self.lib, ignore_errors=True)
        self.lib.mkdir(parents=True)
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(KAFKA_DIR / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.lib}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StartupError(
                f"fetching Kafka's jars failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        (self.lib / ".complete").write_text(self._pom_digest())

    def _java(self, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise StartupError("Java 17+ is needed to run the Kafka broker.")
        return [java, "-cp", f"{self.lib}/*", *args]

    # -- configuration ------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    def write_config(self) -> None:
        nodes = self.settings.kafka_brokers
        replicas = min(nodes, 3)  # of the broker's own topics (offsets, transactions)
        min_isr = 2 if nodes >= 3 else 1
        voters = ",".join(
            f"{i + 1}@127.0.0.1:{self.settings.kafka_node_ports(i)[1]}" for i in range(nodes)
        )
        several = (
            [
                f"share.coordinator.state.topic.min.isr={min_isr}",
                f"default.replication.factor={replicas}",
                f"min.insync.replicas={min_isr}",  # topics without their own, e.g. offsets
            ]
            if nodes > 1
            else []
        )
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)  # it holds the admin's password
        self.config_file.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    f"node.id={self.node_id}",
                    f"controller.quorum.voters={voters}",
                    *self._listener_lines(),
                    f"log.dirs={self.data}",
                    f"offsets.topic.replication.factor={replicas}",
                    "offsets.topic.num.partitions=6",
                    f"transaction.state.log.replication.factor={replicas}",
                    f"transaction.state.log.min.isr={min_isr}",
                    f"share.coordinator.state.topic.replication.factor={replicas}",
                    *several,
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "num.partitions=1",
                    "",
                ]
            )
        )

    @property
    def secured(self) -> bool:
        return self.settings.kafka_security_protocol == "SASL_SSL"

    def _keystore(self) -> Path:
        """Key and certificate chain in one PEM file, as Kafka's PEM keystore reads it."""
        cert = server_certificate(self.settings.data_dir, "kafka", ("localhost", "127.0.0.1"))
        path = self.home / "keystore.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(cert.key.read_bytes() + cert.cert.read_bytes())
        return path

    def _listener_lines(self) -> list[str]:
        port, controller = self.port, self.controller_port
        if not self.secured:
            return [
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
            ]
        password = ensure_local_password(self.settings, ADMIN_USER)
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN_USER}" password="{password}";'
        )
        # The controllers' own listener: SCRAM credentials live in the metadata log, which
        # the controllers cannot read before they have talked to each other, so among
        # themselves they use PLAIN (still inside TLS) with the one user it lists.
        controller_jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{ADMIN_USER}" password="{password}" '
            f'user_{ADMIN_USER}="{password}";'
        )
        ca = site_ca(self.settings.data_dir)[0]
        return [
            f"listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL",
            "inter.broker.listener.name=SASL_SSL",
            "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            "sasl.mechanism.controller.protocol=PLAIN",
            f"listener.name.controller.plain.sasl.jaas.config={controller_jaas}",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self._keystore()}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={ca}",
            "ssl.endpoint.identification.algorithm=https",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            f"super.users=User:{ADMIN_USER}",
        ]

    def formatted(self) -> bool:
        return (self.data / "meta.properties").exists()

    def cluster_id(self) -> str | None:
        """The cluster id this node's storage was formatted with."""
        try:
            lines = (self.data / "meta.properties").read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id":
                return value.strip()
        return None

    def random_cluster_id(self) -> str:
        out = subprocess.run(
            self._java("kafka.tools.StorageTool", "random-uuid"),
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip().splitlines()[-1]

    def format(self, cluster_id: str | None = None) -> None:
        """Format the storage; every node of a quorum needs the same `cluster_id`."""
        cluster_id = cluster_id or self.random_cluster_id()
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.config_file),
                *self._scram_args(),
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StartupError(f"formatting Kafka storage failed: {result.stdout}{result.stderr}")
        if self.node == 0:
            (self.home / QUORUM_FILE).write_text(f"{self.settings.kafka_brokers}\n")
        if self.secured:
            (self.home / SECURED_FILE).write_text("SASL_SSL\n")

    def _scram_args(self) -> list[str]:
        """The bootstrap admin's SCRAM credential, in the metadata from the start (the
        brokers authenticate each other with it before any admin API is reachable)."""
        if not self.secured:
            return []
        password = ensure_local_password(self.settings, ADMIN_USER)
        return ["--add-scram", f"SCRAM-SHA-512=[name={ADMIN_USER},password={password}]"]

    # -- lifecycle ---------------------------------------------------------
    def pid(self) -> int | None:
        return read_pid(self.pid_file)

    def running(self) -> bool:
        return port_open("127.0.0.1", self.port)

    def start(self, timeout: float = 90.0, cluster_id: str | None = None) -> None:
        if self.running():
            return
        self.fetch()
        pid = self.launch(cluster_id)
        self.wait_ready(pid, timeout)

    def launch(self, cluster_id: str | None = None) -> int:
        """Configure, format when new, and start the process without waiting for it."""
        self.write_config()
        if not self.formatted():
            self.format(cluster_id)
        elif self.secured and not (self.home / SECURED_FILE).exists():
            raise StartupError(
                f"the Kafka storage in {self.data} was formatted for PLAINTEXT, before "
                "SASL_SSL: it has no credential for the brokers to authenticate with. "
                f"Run `lead infra down`, remove {kafka_home(self.settings)}, and `lead infra up`: "
                "the relay publishes every stored event again and the views rebuild "
                "(`lead projections rebuild`); or set LEAD_KAFKA_SECURITY_PROTOCOL=PLAINTEXT "
                "for a throwaway stack."
            )
        self.logs.mkdir(parents=True, exist_ok=True)
        cmd = self._java(
            "-Xms256m",
            f"-Xmx{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.logs}",
            "kafka.Kafka",
            str(self.config_file),
        )
        return spawn(cmd, self.logs / "stdout.log", self.pid_file)

    def wait_ready(self, pid: int | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        wait_for_port("127.0.0.1", self.port, timeout, "Kafka", self.logs / "server.log", pid)
        self._wait_ready(max(deadline - time.monotonic(), 5.0))

    def _wait_ready(self, timeout: float) -> None:
        from kafka.admin import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout
        while True:
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=f"127.0.0.1:{self.port}",
                    request_timeout_ms=5000,
                    **auth_for(self.settings, "admin").kafka_python(),
                )
                try:
                    admin.list_topics()
                    return
                finally:
                    admin.close()
            except KafkaError:
                if time.monotonic() > deadline:
                    raise StartupError(
                        f"Kafka is not answering; see {self.logs}/server.log"
                    ) from None
                time.sleep(0.5)

    def stop(self, timeout: float = 60.0) -> None:
        pid = self.pid()
        if pid is not None:
            terminate(pid, timeout)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug would: no controlled shutdown."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reaps it, when it is our child
        self.pid_file.unlink(missing_ok=True)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
        (self.home / SECURED_FILE).unlink(missing_ok=True)
        if self.node == 0:
            (self.home / QUORUM_FILE).unlink(missing_ok=True)
