"""The local Kafka as ``Settings.kafka_brokers`` nodes, started and stopped together.

Each node is broker and controller; the nodes are the static voters of one KRaft
quorum, so they are formatted with one cluster id and started at the same time
(a controller needs a majority of the voters to elect a leader). One node is the
single broker `lead infra up` always ran, with the same ports, files and settings.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor

from infra.kafka.security import auth_for
from infra.local.kafka import LocalKafka, formatted_quorum, kafka_home
from infra.local.processes import StartupError
from infra.settings import Settings


class LocalKafkaCluster:
    """Nodes 0..N-1 of the local Kafka; `kill`/`restart` take a node's index."""

    def __init__(self, settings: Settings, nodes: int | None = None) -> None:
        if nodes is not None and nodes != settings.kafka_brokers:
            settings = settings.model_copy(update={"kafka_brokers": nodes})
        self.settings = settings
        self.nodes = [LocalKafka(settings, i) for i in range(settings.kafka_brokers)]

    @classmethod
    def as_formatted(cls, settings: Settings) -> LocalKafkaCluster:
        """The nodes the local storage was formatted for (to stop or show them all)."""
        return cls(settings, formatted_quorum(settings) or settings.kafka_brokers)

    def running(self) -> bool:
        return all(node.running() for node in self.nodes)

    def start(self, timeout: float = 180.0) -> None:
        """Start the nodes that are not running, together; wait until all are brokers."""
        self._check_quorum()
        down = [node for node in self.nodes if not node.running()]
        if not down:
            return
        self.nodes[0].fetch()
        cluster_id = self._cluster_id()
        deadline = time.monotonic() + timeout
        launched = [(node, node.launch(cluster_id)) for node in down]
        for node, pid in launched:
            node.wait_ready(pid, max(deadline - time.monotonic(), 5.0))
        self.wait_brokers(max(deadline - time.monotonic(), 5.0))

    def _check_quorum(self) -> None:
        formatted = formatted_quorum(self.settings)
        wanted = self.settings.kafka_brokers
        if formatted is not None and formatted != wanted:
            raise StartupError(
                f"the local Kafka in {kafka_home(self.settings)} was formatted for {formatted} "
                f"node(s), not {wanted}: start it with LEAD_KAFKA_BROKERS={formatted} "
                f"(`lead infra up --brokers {formatted}`), or use another LEAD_DATA_DIR"
            )

    def _cluster_id(self) -> str | None:
        found = {node.cluster_id() for node in self.nodes if node.formatted()}
        if len(found) > 1:
            raise StartupError(
                f"the local Kafka nodes in {kafka_home(self.settings)} belong to different "
                f"clusters ({sorted(i or '?' for i in found)}); delete that folder to start anew"
            )
        if found:
            return found.pop()
        return None if len(self.nodes) == 1 else self.nodes[0].random_cluster_id()

    def wait_brokers(self, timeout: float = 120.0) -> None:
        """Until every node is a registered, unfenced broker."""
        from kafka.admin import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=self.settings.bootstrap_servers,
                    request_timeout_ms=5000,
                    **auth_for(self.settings, "admin").kafka_python(),
                )
                try:
                    brokers = admin.describe_cluster()["brokers"]
                    seen = sum(1 for b in brokers if not b.get("is_fenced"))
                finally:
                    admin.close()
                if seen >= len(self.nodes):
                    return
            except KafkaError:
                pass
            if time.monotonic() > deadline:
                raise StartupError(
                    f"only {seen} of {len(self.nodes)} Kafka brokers joined; see "
                    f"{kafka_home(self.settings)}/**/logs/server.log"
                )
            time.sleep(0.5)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM to every node at once (stopping one by one would leave the last
        ones without a controller quorum for their controlled shutdown)."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.stop(timeout), self.nodes))

    def kill(self, node: int) -> None:
        self.nodes[node].kill()

    def restart(self, node: int, timeout: float = 120.0) -> None:
        """Start one node again (after `kill` or `stop`) and wait until it is a broker."""
        self.nodes[node].start(timeout, cluster_id=self._cluster_id())
        self.wait_brokers(timeout)

    def destroy(self) -> None:
        """Stop the nodes and delete their data (node 0's and any node-<i> folder)."""
        self.stop()
        self.nodes[0].destroy()
        for folder in kafka_home(self.settings).glob("node-*"):
            shutil.rmtree(folder, ignore_errors=True)
