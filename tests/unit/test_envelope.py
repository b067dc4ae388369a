from __future__ import annotations

import json
from uuid import UUID

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event
from hypothesis import given
from hypothesis import strategies as st

from aggregates.referral import Referral
from events.base import DomainEvent
from events.envelope import CONTENT_TYPE, CloudEvent, EnvelopeError, decode, envelope
from events.referral import Incident, Pathway, Person, ReferralReceived, Referrer
from events.registry import UnknownEventTypeError
from tests.factories import OFFICER, POLICY


def received() -> ReferralReceived:
    referral = Referral.receive(
        policy=POLICY,
        actor=OFFICER,
        pathway=Pathway.ARREST_DIVERSION,
        referrer=Referrer(principal="officer.reyes", organisation="Seattle PD"),
        incident=Incident(offense_code="69.50.4013", description="possession"),
        person=Person(given_name="Ann", family_name="Doe"),
    )
    event = referral.collect_events()[0]
    assert isinstance(event, ReferralReceived)
    return event


def test_the_envelope_is_a_cloudevent_the_sdk_parses() -> None:
    event = received()
    message = envelope(event, position=42, source="urn:lead:site:test")
    parsed = from_kafka_event(
        KafkaMessage(
            headers={"content-type": CONTENT_TYPE.encode()},
            key=str(event.person_id).encode(),
            value=message.to_json(),
        )
    )
    assert parsed.get_id() == str(event.event_id)
    assert parsed.get_type() == "org.lead.referral.received.v2"
    assert parsed.get_source() == "urn:lead:site:test"
    assert parsed.get_subject() == str(event.person_id)
    assert parsed.get_time() == event.occurred_at
    assert parsed.get_extension("sequence") == "00000000000000000042"
    data = parsed.get_data()
    assert data["pathway"] == "arrest_diversion"
    assert data["actor"] == {
        "principal": "officer.reyes",
        "role": "officer",
        "organisation": "Seattle PD",
    }
    assert "originator_topic" not in data


def test_sequence_sorts_as_text_in_store_order() -> None:
    event = received()
    sequences = [envelope(event, position=p, source="s").sequence for p in (9, 10, 100, 2)]
    assert sorted(sequences) == [s for _, s in sorted(zip((9, 10, 100, 2), sequences, strict=True))]


def test_the_event_id_is_stable_so_a_republished_event_can_be_deduplicated() -> None:
    event = received()
    first = envelope(event, position=1, source="s")
    again = envelope(event, position=1, source="s")
    assert first.id == again.id
    assert UUID(first.id)


@given(st.one_of(st.uuids().map(str), st.text()), st.integers(min_value=0, max_value=2**63 - 1))
def test_the_relays_event_id_text_is_the_uuid5_the_model_gives(
    originator_id: str, version: int
) -> None:
    text = DomainEvent.event_id_text_of(originator_id, version)
    assert text == str(DomainEvent.event_id_of(originator_id, version))


def test_decoding_gives_back_the_same_event() -> None:
    event = received()
    message = CloudEvent.from_json(envelope(event, position=7, source="s").to_json())
    assert decode(message) == event.model_copy(update={"originator_topic": ""})


def test_an_old_version_on_the_bus_is_upcast() -> None:
    event = received()
    data = envelope(event, position=7, source="s").data
    del data["occurred_at"]  # version 1 had no occurred_at
    old = CloudEvent(id="x", source="s", type="org.lead.referral.received.v1", data=data)
    upcast = decode(old)
    assert upcast.occurred_at == event.timestamp


@pytest.mark.parametrize("raw", [b"not json", b"{}", json.dumps({"id": "1"}).encode()])
def test_a_message_that_is_not_a_cloudevent_is_refused(raw: bytes) -> None:
    with pytest.raises(EnvelopeError):
        CloudEvent.from_json(raw)


@pytest.mark.parametrize("kind", ["org.lead.nothing.v1", "org.lead.referral.received.v9", "x"])
def test_an_unknown_type_or_future_version_is_refused(kind: str) -> None:
    with pytest.raises(UnknownEventTypeError):
        decode(CloudEvent(id="1", source="s", type=kind, data={}))
