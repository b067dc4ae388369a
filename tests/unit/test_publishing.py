"""The relay assembles a CloudEvent from the stored JSON: byte for byte what decoding
the event into its model and enveloping it gives, for each kind the demo site makes."""

from __future__ import annotations

import json
from typing import Any

from eventsourcing.persistence import Notification, StoredEvent

from events.base import DomainEvent
from events.envelope import envelope
from infra.crypto.sealing import MemoryKeyStore, PersonSealer
from infra.kafka.publishing import Publisher
from infra.postgres.mapper import PydanticMapper
from services.application import LeadApplication
from services.tools.demo.steps import seed_site
from tests.factories import IN_MEMORY

SOURCE = "/lead/test-site"


def through_the_model(mapper: PydanticMapper, position: int, stored: StoredEvent) -> bytes:
    event = mapper.to_domain_event(stored)
    assert isinstance(event, DomainEvent)
    return envelope(event, position=position, source=SOURCE).to_json()


def test_every_kind_of_event_is_published_as_its_model_would_publish_it() -> None:
    app = LeadApplication(env=IN_MEMORY, sealer=PersonSealer(MemoryKeyStore()))
    seed_site(app, participants=12, months=6, seed=3)
    sealed = PydanticMapper(transcoder=app.mapper.transcoder)  # the relay's: keyless
    publisher = Publisher(sealed, SOURCE)
    notifications = app.recorder.select_notifications(start=1, limit=10**6)
    kinds = set()
    for n in notifications:
        key, value = publisher(n.id, n)
        event = sealed.to_domain_event(n)
        assert value == through_the_model(sealed, n.id, n), n.topic
        assert key == event.partition_key.encode()
        kinds.add(n.topic)
    assert publisher.direct == len(notifications)  # none needed the model
    assert len(kinds) >= 30  # 33 of the 44 kinds of event occur in the demo site
    assert any(b"[sealed]" in n.state for n in notifications)  # published sealed, as stored


def a_referral_received() -> tuple[PydanticMapper, Notification]:
    """The relay's (keyless) mapper, and a stored referral of a small demo site."""
    app = LeadApplication(env=IN_MEMORY, sealer=PersonSealer(MemoryKeyStore()))
    seed_site(app, participants=2, months=1, seed=1)
    received = next(
        n
        for n in app.recorder.select_notifications(start=1, limit=10**6)
        if n.topic.endswith("ReferralReceived")
    )
    return PydanticMapper(transcoder=app.mapper.transcoder), received


def stored_as(received: Notification, state: dict[str, Any]) -> StoredEvent:
    """The same stored event with another state."""
    return StoredEvent(
        originator_id=received.originator_id,
        originator_version=received.originator_version,
        topic=received.topic,
        state=json.dumps(state, ensure_ascii=False).encode(),
    )


def test_an_older_version_goes_through_its_upcaster() -> None:
    sealed, received = a_referral_received()
    state = json.loads(received.state)
    del state["class_version"]  # version 1 stored none, and had no occurred_at
    del state["occurred_at"]
    old = stored_as(received, state)
    publisher = Publisher(sealed, SOURCE)
    _, value = publisher(7, old)
    assert publisher.direct == 0
    assert value == through_the_model(sealed, 7, old)
    assert json.loads(value)["time"] == state["timestamp"]  # the upcaster's doing


def test_awkward_values_come_out_as_pydantic_writes_them() -> None:
    """Floats with exponents, control characters and non-ASCII text in a stored event."""
    sealed, received = a_referral_received()
    publisher = Publisher(sealed, SOURCE)
    awkward = [(1e-7, "é\u2028"), (1e16, '\x01\t"q"\\'), (0.1 + 0.2, "日本"), (5.0, "/")]
    for grams, text in awkward:
        state = json.loads(received.state)
        state["facts"]["drug_grams"] = grams
        state["incident"]["description"] = text
        stored = stored_as(received, state)
        assert publisher(9, stored)[1] == through_the_model(sealed, 9, stored), (grams, text)
    assert publisher.direct == 4
