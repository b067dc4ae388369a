"""The Kafka grants: least privilege as data, and the docs' table generated from them."""

from __future__ import annotations

import pytest

from events.access import KafkaClientKind
from events.topics import AUDIT, EVENTS, PROSECUTION
from infra.kafka.acls import client_grants, grants
from infra.settings import PROJECT_ROOT, Settings
from services.contracts.security_tables import with_current_acls


def test_the_security_docs_show_the_acls_the_code_sets() -> None:
    doc = (PROJECT_ROOT / "docs" / "security.md").read_text()
    assert doc == with_current_acls(doc), "docs/security.md is stale: run `lead docs`"


def test_an_external_client_only_reads_its_kinds_topic_and_its_own_groups() -> None:
    wanted = {
        KafkaClientKind.PROSECUTION: PROSECUTION,
        KafkaClientKind.DASHBOARD: "lead.projections.*",
        KafkaClientKind.AUDITOR: AUDIT,
    }
    for kind, topic in wanted.items():
        granted = client_grants(kind, "county")
        assert all(set(g.operations) == {"READ", "DESCRIBE"} for g in granted)
        assert [g.name for g in granted if g.resource == "topic"] == [topic]
        assert {g.name for g in granted if g.resource == "group"} == {"county", "county.*"}
        assert EVENTS not in {g.name for g in granted}


def test_only_the_relay_and_replay_write_the_event_topic() -> None:
    writers = {
        component
        for component, granted in grants(Settings()).items()
        for g in granted
        if g.name == EVENTS and "WRITE" in g.operations
    }
    assert writers == {"relay", "replay"}


def test_a_document_without_the_markers_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="no <!-- kafka-acls"):
        with_current_acls("# Security\n")
