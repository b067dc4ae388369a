from __future__ import annotations

from aggregates.referral import Referral
from events.referral import Incident, Pathway, Person, Referrer
from projections.base import Upsert
from projections.referrals import ReferralsProjection
from tests.factories import OFFICER, POLICY


def test_a_received_referral_becomes_one_row_without_the_persons_name() -> None:
    referral = Referral.receive(
        policy=POLICY,
        actor=OFFICER,
        pathway=Pathway.ARREST_DIVERSION,
        referrer=Referrer(principal="officer.reyes", organisation="Seattle PD"),
        incident=Incident(offense_code="69.50.4013", description="possession", nibrs_code="35A"),
        person=Person(given_name="Ann", family_name="Doe"),
    )
    event = referral.collect_events()[0]
    [change] = ReferralsProjection().handle(event, position=12)
    assert isinstance(change, Upsert)
    assert change.key == {"referral_id": referral.id}
    assert change.version == 1
    assert change.values["status"] == "received"
    assert change.values["nibrs_code"] == "35A"
    assert change.values["position"] == 12
    assert "Ann" not in repr(change.values) and "Doe" not in repr(change.values)
