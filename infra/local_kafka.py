"""A single-node Apache Kafka (KRaft, broker + controller) on 127.0.0.1.

The broker's jars come from Maven Central through ``infra/kafka/pom.xml`` and are
cached in the data folder; the storage is formatted on first use.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from infra.processes import StartupError, port_open, read_pid, spawn, terminate, wait_for_port
from infra.settings import Settings

KAFKA_DIR = Path(__file__).resolve().parent / "kafka"


class LocalKafka:
    """Fetches, formats, starts and stops the local broker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.data_dir / "kafka"
        self.lib = settings.cache_dir / "kafka-lib"
        self.data = self.home / "data"
        self.logs = self.home / "logs"
        self.pid_file = self.home / "kafka.pid"
        self.port = settings.kafka_port

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
        controller = self.settings.kafka_controller_port
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{controller}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.data}",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=6",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "num.partitions=1",
                    "",
                ]
            )
        )

    def formatted(self) -> bool:
        return (self.data / "meta.properties").exists()

    def format(self) -> None:
        out = subprocess.run(
            self._java("kafka.tools.StorageTool", "random-uuid"),
            capture_output=True,
            text=True,
            check=True,
        )
        cluster_id = out.stdout.strip().splitlines()[-1]
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config_file)
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StartupError(f"formatting Kafka storage failed: {result.stdout}{result.stderr}")

    # -- lifecycle ---------------------------------------------------------
    def pid(self) -> int | None:
        return read_pid(self.pid_file)

    def running(self) -> bool:
        return port_open("127.0.0.1", self.port)

    def start(self, timeout: float = 90.0) -> None:
        if self.running():
            return
        self.fetch()
        self.write_config()
        if not self.formatted():
            self.format()
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
        pid = spawn(cmd, self.logs / "stdout.log", self.pid_file)
        wait_for_port("127.0.0.1", self.port, timeout, "Kafka", self.logs / "server.log", pid)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        from kafka.admin import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout
        while True:
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=f"127.0.0.1:{self.port}", request_timeout_ms=5000
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
        pid = self.pid()
        if pid is not None:
            terminate(pid, 0)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
