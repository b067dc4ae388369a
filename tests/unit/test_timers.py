"""The clock's lapses (services/timers.py): recorded once the site's date is past the
deadline, never before, once only however many replicas or restarts; and a client's date
cannot lapse a referral early. Time moves by an injected clock, not by sleeping."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from aggregates.referral import IntakeDeadlineNotPassedError
from events.base import Role
from events.consent import ConsentExpired
from events.referral import IntakeDeadlineLapsed, Pathway
from infra.clock import Clock
from services import commands as c
from services.application import LeadApplication
from services.timers import TIMERS_ACTOR, Timers
from tests.factories import IN_MEMORY, POLICY_TERMS
from tests.scenario import ADMIN, CM, OFFICER, PM, referral


class MovableTime:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


RECEIVED = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # 10:00 in Seattle


def site(time: MovableTime, zone: str = "America/Los_Angeles") -> LeadApplication:
    app = LeadApplication(env=IN_MEMORY, clock=Clock(zone, source=time))
    app.adopt_policy(c.AdoptPolicy(terms=POLICY_TERMS), ADMIN)
    return app


def approved(app: LeadApplication, n: int = 1) -> UUID:
    command = referral(Pathway.ARREST_DIVERSION, n, days_ago=0).model_copy(
        update={"occurred_at": RECEIVED}
    )
    receipt = app.receive_referral(command, OFFICER)
    app.approve_referral(receipt.id, c.ApproveReferral(occurred_at=RECEIVED), PM)
    return receipt.id


def deadline_of(app: LeadApplication, referral_id: UUID) -> date:
    found = app.repository.get(referral_id).intake_deadline
    assert found is not None
    return found


def recorded_lapses(app: LeadApplication, referral_id: UUID) -> list[IntakeDeadlineLapsed]:
    return [
        e
        for e in app.repository.event_store.get(referral_id)
        if isinstance(e, IntakeDeadlineLapsed)
    ]


def every(app: LeadApplication, *ids: UUID) -> Timers:
    """Timers whose view of what is due is every referral given (a view that lags or
    runs ahead: the referral itself decides)."""
    return Timers(app, lambda _today: list(ids))


def test_a_deadline_lapses_at_the_sites_midnight_not_before_and_once() -> None:
    time = MovableTime(RECEIVED)
    app = site(time)
    rid = approved(app)
    deadline = deadline_of(app, rid)
    assert deadline == date(2026, 3, 2) + timedelta(days=POLICY_TERMS.intake_deadline_days)
    timers = every(app, rid)
    midnight = app.clock.midnight_after(deadline)  # 00:00 in Seattle = 07:00 or 08:00 UTC

    time.at = midnight - timedelta(seconds=1)  # 23:59:59 of the deadline day there
    assert timers.tick() == 0 and recorded_lapses(app, rid) == []
    time.at = midnight
    assert timers.tick() == 1
    assert timers.tick() == 0  # the next tick, a restart, another replica: nothing more
    assert every(app, rid).tick() == 0
    [lapse] = recorded_lapses(app, rid)
    assert lapse.deadline == deadline and lapse.returned_to_prosecutor
    assert lapse.policy_version == 1  # the policy whose deadline it was
    assert lapse.actor == TIMERS_ACTOR and lapse.actor.role is Role.SYSTEM
    assert lapse.occurred_at == midnight


def test_the_site_time_zone_decides_the_day() -> None:
    # 05:00 UTC on the day after the deadline is still the deadline day in Seattle.
    time = MovableTime(RECEIVED)
    seattle, utc = site(time), site(time, "UTC")
    in_seattle, in_utc = approved(seattle), approved(utc)
    deadline = deadline_of(seattle, in_seattle)
    time.at = datetime.combine(deadline + timedelta(days=1), datetime.min.time(), UTC).replace(
        hour=5
    )
    assert every(seattle, in_seattle).tick() == 0
    assert every(utc, in_utc).tick() == 1


def test_a_referral_taken_in_or_already_lapsed_is_left_alone() -> None:
    time = MovableTime(RECEIVED)
    app = site(time)
    by_hand, withdrawn = approved(app, 1), approved(app, 2)
    deadline = deadline_of(app, by_hand)
    time.at = app.clock.midnight_after(deadline) + timedelta(hours=9)
    app.lapse_referral(by_hand, c.LapseReferral(), PM)  # a case manager recorded it first
    app.withdraw_referral(withdrawn, c.WithdrawReferral(kind="declined"), OFFICER)
    assert every(app, by_hand, withdrawn, by_hand).tick() == 0
    assert len(recorded_lapses(app, by_hand)) == 1 and recorded_lapses(app, withdrawn) == []


def test_no_date_a_client_sends_lapses_a_referral_early() -> None:
    time = MovableTime(RECEIVED + timedelta(days=3))
    app = site(time)
    rid = approved(app)
    with pytest.raises(ValueError, match="today"):
        c.LapseReferral.model_validate({"today": "2099-01-01"})
    with pytest.raises(IntakeDeadlineNotPassedError, match="server's clock"):
        app.lapse_referral(rid, c.LapseReferral(), PM)
    assert recorded_lapses(app, rid) == []
    # Once the server's date is past it, a lapse may be recorded as of an earlier moment
    # after the deadline, but not as of one before it.
    deadline = deadline_of(app, rid)
    time.at = app.clock.midnight_after(deadline) + timedelta(days=2)
    too_soon = c.LapseReferral(occurred_at=app.clock.midnight_after(deadline) - timedelta(hours=1))
    with pytest.raises(IntakeDeadlineNotPassedError):
        app.lapse_referral(rid, too_soon, PM)
    late = app.clock.midnight_after(deadline) + timedelta(hours=10)
    app.lapse_referral(rid, c.LapseReferral(occurred_at=late), PM)
    [lapse] = recorded_lapses(app, rid)
    assert lapse.occurred_at == late and lapse.actor == PM


def test_a_clock_offset_file_moves_time_for_whoever_reads_it(tmp_path: Path) -> None:
    offset = tmp_path / "offset"
    clock = Clock("UTC", offset_file=offset, source=lambda: RECEIVED)
    assert clock.now() == RECEIVED  # no file yet: the real time
    offset.write_text(str(86400 * 2.5))
    assert clock.now() == RECEIVED + timedelta(days=2, hours=12)
    assert clock.today() == date(2026, 3, 5)


def test_production_refuses_a_moved_clock_and_an_unknown_zone(tmp_path: Path) -> None:
    from infra.settings import Settings

    with pytest.raises(ValueError, match="clock_offset_file"):
        Settings(environment="production", clock_offset_file=tmp_path / "offset")
    with pytest.raises(ValueError, match="IANA time zone"):
        Settings(site_timezone="Mars/Olympus_Mons")


def granted(app: LeadApplication, *, signed: datetime, ends: datetime) -> UUID:
    from events.consent import InformationKind, Recipient, RecipientKind, SignatureMethod

    receipt = app.grant_consent(
        c.GrantConsent(
            person_id=uuid4(),
            disclosing_party="REACH",
            recipients=(Recipient(kind=RecipientKind.ROLE, name="liaison_prosecutor"),),
            purpose="coordinate cases",
            information_kinds=(InformationKind.LEGAL_STATUS,),
            signature_method=SignatureMethod.PAPER,
            signed_at=signed,
            expires_at=ends,
        ),
        CM,
    )
    return receipt.id


def test_a_consent_expiry_is_recorded_once_as_of_its_end_date() -> None:
    signed = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    ends = signed + timedelta(days=90)
    time = MovableTime(signed + timedelta(days=1))
    app = site(time)
    expiring, revoked = (
        granted(app, signed=signed, ends=ends),
        granted(app, signed=signed, ends=ends),
    )
    app.revoke_consent(revoked, c.RevokeConsent(effective_at=signed + timedelta(days=2)), CM)
    timers = Timers(app, lambda _today: [], lambda _now: [expiring, revoked, expiring])

    time.at = ends - timedelta(seconds=1)
    assert timers.tick() == 0
    time.at = ends + timedelta(minutes=3)
    assert timers.tick() == 1  # the revoked one had ended before its date: nothing to record
    assert timers.tick() == 0
    [expired] = [
        e for e in app.repository.event_store.get(expiring) if isinstance(e, ConsentExpired)
    ]
    assert expired.expired_at == ends and expired.actor == TIMERS_ACTOR
    assert not [e for e in app.repository.event_store.get(revoked) if isinstance(e, ConsentExpired)]


def test_the_consents_view_lists_what_is_due_and_forgets_what_was_recorded() -> None:
    from projections.base import Update, Upsert
    from projections.consents import ConsentsProjection

    signed = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    time = MovableTime(signed + timedelta(days=1))
    app = site(time)
    consent = granted(app, signed=signed, ends=signed + timedelta(days=90))
    time.at = signed + timedelta(days=91)
    Timers(app, lambda _today: [], lambda _now: [consent]).tick()
    changes = [
        change
        for position, event in enumerate(app.repository.event_store.get(consent), 1)
        for change in ConsentsProjection().handle(event, position)
    ]
    assert isinstance(changes[0], Upsert) and changes[0].values["expires_at"] == signed + timedelta(
        days=90
    )
    assert isinstance(changes[-1], Update)
    assert changes[-1].values["expired_at"] == signed + timedelta(days=90)
