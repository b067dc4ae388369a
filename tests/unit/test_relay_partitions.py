"""The relay's remembered partitions are the ones kafka-python's default partitioner
gives: a person's events land on one partition whichever producer sends them."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import DefaultPartitioner

from infra.kafka.relay import PartitionOf


class _Cluster:
    """What the default partitioner reads of the cluster's metadata."""

    def __init__(self, topic: str, partitions: set[int]) -> None:
        self.topic, self.partitions = topic, partitions

    def topics(self) -> set[str]:
        return {self.topic}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions


class _Producer:
    def __init__(self, partitions: set[int]) -> None:
        self.partitions = partitions

    def partitions_for(self, topic: str) -> set[int]:
        return self.partitions


@given(
    st.lists(st.one_of(st.uuids().map(lambda u: str(u).encode()), st.binary()), min_size=1),
    st.sets(st.integers(min_value=0, max_value=63), min_size=1),
)
def test_each_key_gets_the_default_partitioners_partition(
    keys: list[bytes], partitions: set[int]
) -> None:
    producer: Any = _Producer(partitions)
    partition_of = PartitionOf(producer, "t")
    partition_of.refresh()
    default = DefaultPartitioner()
    cluster = _Cluster("t", partitions)
    for key in keys + keys:  # the second time from memory
        assert partition_of(key) == default.partition("t", key, key, None, None, cluster)


def test_it_forgets_when_the_topics_partitions_change() -> None:
    producer: Any = _Producer({0, 1})
    partition_of = PartitionOf(producer, "t")
    partition_of.refresh()
    keys = [str(i).encode() for i in range(50)]
    before = [partition_of(k) for k in keys]
    producer.partitions = set(range(12))
    partition_of.refresh()
    after = [partition_of(k) for k in keys]
    default = DefaultPartitioner()
    expected = [
        default.partition("t", k, k, None, None, _Cluster("t", set(range(12)))) for k in keys
    ]
    assert after == expected != before


def test_without_metadata_it_leaves_the_choice_to_the_producer() -> None:
    producer: Any = _Producer(set())
    partition_of = PartitionOf(producer, "t")
    partition_of.refresh()
    assert partition_of(b"person") is None
