"""Topic names and the per-topic settings that are part of the contract."""

from __future__ import annotations

from dataclasses import dataclass, field

EVENTS = "lead.events.v1"
PROSECUTION = "lead.prosecution.v1"
AUDIT = "lead.audit.v1"
DEADLETTER = "lead.deadletter.v1"


def projection_topic(name: str) -> str:
    return f"lead.projections.{name}.v1"


FOREVER = "-1"
NINETY_DAYS_MS = str(90 * 24 * 3600 * 1000)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str
    key: str
    config: dict[str, str] = field(default_factory=dict)


# Projections whose row changes dashboards may read from compacted topics. Not the
# liaison view (consent is checked at every read, which a topic cannot do) and not
# the evaluation tables (de-identified only through their queries).
DASHBOARD_PROJECTIONS = ("referrals", "queue", "caseloads", "agenda")


def projection_topic_spec(name: str) -> TopicSpec:
    """The compacted topic of one projection's row changes: the latest row per key."""
    return TopicSpec(
        projection_topic(name),
        f"{name} projection row changes",
        "table and primary key",
        {"cleanup.policy": "compact"},
    )


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        EVENTS,
        "every domain event",
        "person id",
        {"retention.ms": FOREVER, "cleanup.policy": "delete"},
    ),
    TopicSpec(
        PROSECUTION,
        "legal and program-status events, consent-gated",
        "person id",
        {"retention.ms": FOREVER, "cleanup.policy": "delete"},
    ),
    TopicSpec(
        AUDIT,
        "access and disclosure records",
        "person id",
        {"retention.ms": FOREVER, "cleanup.policy": "delete"},
    ),
    TopicSpec(
        DEADLETTER,
        "messages that could not be processed, with the error",
        "original key",
        {"retention.ms": NINETY_DAYS_MS, "cleanup.policy": "delete"},
    ),
    *(projection_topic_spec(name) for name in DASHBOARD_PROJECTIONS),
)
