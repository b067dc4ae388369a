"""The topics the project creates, with the settings the design promises."""

from __future__ import annotations

import pytest

from events.topics import DEADLETTER, EVENTS, TOPICS, projection_topic
from infra.kafka.admin import describe_topics, ensure_topics, topic_configs
from infra.settings import Settings

pytestmark = pytest.mark.integration


def test_every_topic_exists_with_the_configured_partitions(settings: Settings) -> None:
    partitions = describe_topics(settings)
    assert partitions == {spec.name: settings.topic_partitions for spec in TOPICS}
    assert ensure_topics(settings) == []  # a second run creates nothing


def test_the_event_log_is_kept_forever_and_projection_topics_are_compacted(
    settings: Settings,
) -> None:
    events = topic_configs(settings, EVENTS)
    assert events["retention.ms"] == "-1"
    assert events["min.insync.replicas"] == str(settings.topic_min_insync_replicas)
    assert topic_configs(settings, projection_topic("referrals"))["cleanup.policy"] == "compact"
    assert topic_configs(settings, DEADLETTER)["retention.ms"] != "-1"
