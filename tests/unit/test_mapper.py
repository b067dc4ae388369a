from __future__ import annotations

import json
import math
from datetime import datetime

from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from aggregates.referral import Referral
from events.referral import Incident, Pathway, Person, ReferralReceived, Referrer
from infra.postgres.mapper import JSONBytesTranscoder, PydanticMapper
from tests.factories import PARTNER, POLICY

mapper = PydanticMapper(transcoder=JSONBytesTranscoder())


def received() -> ReferralReceived:
    referral = Referral.receive(
        policy=POLICY,
        actor=PARTNER,
        pathway=Pathway.COMMUNITY,
        referrer=Referrer(
            principal="outreach.lee", organisation="Downtown Emergency Service Center"
        ),
        incident=Incident(offense_code="none", description="community concern"),
        person=Person(given_name="Ann", family_name="Doe", aliases=("Annie",)),
    )
    event = referral.collect_events()[0]
    assert isinstance(event, ReferralReceived)
    return event


def test_round_trip_keeps_every_field_and_records_the_class_version() -> None:
    event = received()
    stored = mapper.to_stored_event(event)
    assert json.loads(stored.state)["class_version"] == 2
    assert mapper.to_domain_event(stored) == event


def test_a_stored_v1_event_is_upcast_when_read() -> None:
    """The pydantic mapper in the library's examples skips this; ours must not."""
    event = received()
    state = json.loads(mapper.to_stored_event(event).state)
    del state["occurred_at"]
    del state["class_version"]  # version 1 stored no class_version
    old = StoredEvent(
        originator_id=event.originator_id,
        originator_version=1,
        topic="events.referral:ReferralReceived",
        state=json.dumps(state).encode(),
    )
    upcast = mapper.to_domain_event(old)
    assert isinstance(upcast, ReferralReceived)
    assert upcast.occurred_at == datetime.fromisoformat(state["timestamp"])
    assert upcast.person == event.person


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(JSON)
def test_events_are_stored_as_the_bytes_json_wrote_them(value: object) -> None:
    """orjson writes the stored JSON: for every type an event's fields reduce to, the
    bytes are the ones `json.dumps` wrote before (UTF-8, no spaces), and they read back."""
    transcoder = JSONBytesTranscoder()
    stored = transcoder.encode(value)
    assert stored == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert transcoder.decode(stored) == value


def test_what_orjson_refuses_is_still_written_and_read() -> None:
    transcoder = JSONBytesTranscoder()
    big = {"n": 2**70}
    assert transcoder.decode(transcoder.encode(big)) == big
    assert math.isnan(transcoder.decode(b'{"x":NaN}')["x"])  # json's extension, read as before
