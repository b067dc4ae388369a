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


def test_the_lifecycle_moves_the_row_and_each_change_is_guarded_by_version() -> None:
    from datetime import date
    from uuid import uuid4

    from projections.base import Update

    referral = Referral.receive(
        policy=POLICY,
        actor=OFFICER,
        pathway=Pathway.ARREST_DIVERSION,
        referrer=Referrer(principal="officer.reyes", organisation="Seattle PD"),
        incident=Incident(offense_code="69.50.4013", description="possession"),
        person=Person(given_name="Ann", family_name="Doe"),
    )
    referral.approve(actor=OFFICER, intake_deadline_days=10)
    referral.complete_intake(
        actor=OFFICER,
        completed_on=date.today(),
        case_manager="cm.ortiz",
        consent_id=uuid4(),
        participant_id=uuid4(),
    )
    projection = ReferralsProjection()
    changes = [
        projection.handle(e, position=i) for i, e in enumerate(referral.collect_events(), start=1)
    ]
    statuses = [c[0].values.get("status") for c in changes]
    assert statuses == ["received", "eligible", "approved", "enrolled"]
    updates = [c[0] for c in changes[1:]]
    assert all(isinstance(u, Update) for u in updates)
    assert [u.version for u in updates] == [2, 3, 4]
    assert updates[1].values["intake_deadline"] is not None
