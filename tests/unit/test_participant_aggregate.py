from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from pydantic import ValidationError

from aggregates.base import DomainError
from aggregates.caseload import Caseload
from aggregates.participant import (
    AlreadyCaseManagerError,
    DisclosureWithoutConsentError,
    DuplicateContactError,
    DuplicateGoalError,
    Goal,
    GoalUnchangedError,
    LivingSituationCodeError,
    NotExitedError,
    Participant,
    ParticipantExitedError,
    StatusUnchangedError,
    UnknownGoalError,
)
from events.base import Actor, Role
from events.participant import (
    CaseManagerAssigned,
    ContactKind,
    ContactRecorded,
    DataQuality,
    EngagementStatus,
    ExitReason,
    GoalDomain,
    GoalProgressRecorded,
    GoalRevised,
    GoalSet,
    GoalStatus,
    IncomeRecorded,
    IncomeSource,
    LivingSituationRecorded,
    ParticipantEnrolled,
    ParticipantExited,
    ParticipantReengaged,
    ParticipantStatus,
    ProgressSummaryShared,
    StatusChanged,
    housing_category,
)
from infra.postgres.mapper import JSONBytesTranscoder, PydanticMapper
from tests.strategies import typed_text

CASE_MANAGER = Actor(
    principal="cm.okafor", role=Role.CASE_MANAGER, organisation="Evergreen Treatment Services"
)
PROJECT_MANAGER = Actor(
    principal="pm.larsen", role=Role.PROJECT_MANAGER, organisation="LEAD Seattle-King County"
)
PERSON = uuid4()
REFERRAL = uuid4()
CONSENT = uuid4()
ENROLLED_ON = date(2024, 3, 1)
CONTACTED = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
PROSECUTORS = "King County Prosecuting Attorney's Office"


def enroll() -> Participant:
    participant = Participant.enroll(
        actor=CASE_MANAGER,
        person_id=PERSON,
        referral_id=REFERRAL,
        enrolled_on=ENROLLED_ON,
        case_manager=CASE_MANAGER.principal,
    )
    participant.collect_events()
    return participant


def exited() -> Participant:
    participant = enroll()
    participant.exit(actor=CASE_MANAGER, exited_on=date(2024, 6, 1), reason=ExitReason.MOVED_AWAY)
    participant.collect_events()
    return participant


def share(participant: Participant, **overrides: Any) -> UUID:
    kwargs: dict[str, Any] = {
        "actor": CASE_MANAGER,
        "recipient_organisation": PROSECUTORS,
        "recipient_role": Role.LIAISON_PROSECUTOR,
        "summary": "Attends weekly; moved into transitional housing.",
        "consent_id": CONSENT,
        "consent_covers": True,
        **overrides,
    }
    return participant.share_progress_summary(**kwargs)


# Enrollment and case managers.


def test_enrollment_records_the_person_referral_and_first_case_manager() -> None:
    participant = Participant.enroll(
        actor=CASE_MANAGER,
        person_id=PERSON,
        referral_id=REFERRAL,
        enrolled_on=ENROLLED_ON,
        case_manager="cm.okafor",
    )
    [event] = participant.collect_events()
    assert isinstance(event, ParticipantEnrolled)
    assert (event.person_id, event.referral_id, event.enrolled_on) == (
        PERSON,
        REFERRAL,
        ENROLLED_ON,
    )
    assert participant.id != PERSON
    assert participant.case_manager == "cm.okafor"
    assert participant.enrolled_on == ENROLLED_ON
    assert participant.status is ParticipantStatus.ACTIVE
    assert not participant.exited
    assert participant.goals == {}
    assert participant.contact_count == 0
    assert participant.last_contact_at is None


def test_reassignment_keeps_the_previous_case_manager_on_record() -> None:
    participant = enroll()
    participant.assign_case_manager(
        actor=PROJECT_MANAGER, case_manager="cm.diaz", reason="Caseload balancing"
    )
    [event] = participant.collect_events()
    assert isinstance(event, CaseManagerAssigned)
    assert event.previous_case_manager == "cm.okafor"
    assert event.case_manager == "cm.diaz"
    assert event.reason == "Caseload balancing"
    assert participant.case_manager == "cm.diaz"


def test_assigning_the_current_case_manager_again_is_refused() -> None:
    participant = enroll()
    with pytest.raises(AlreadyCaseManagerError, match=r"cm\.okafor is already"):
        participant.assign_case_manager(actor=PROJECT_MANAGER, case_manager="cm.okafor")
    assert participant.collect_events() == []


# Goals, set by the participant.


def test_a_goal_starts_open_and_can_be_progressed_and_revised() -> None:
    participant = enroll()
    goal = participant.set_goal(actor=CASE_MANAGER, text="Get my ID back", domain=GoalDomain.LEGAL)
    participant.record_goal_progress(
        actor=CASE_MANAGER, goal_id=goal, note="Birth certificate ordered."
    )
    participant.revise_goal(actor=CASE_MANAGER, goal_id=goal, text="Get my state ID back")
    participant.revise_goal(actor=CASE_MANAGER, goal_id=goal, status=GoalStatus.ACHIEVED)
    set_, progress, reworded, achieved = participant.collect_events()
    assert isinstance(set_, GoalSet)
    assert isinstance(progress, GoalProgressRecorded)
    assert isinstance(reworded, GoalRevised)
    assert isinstance(achieved, GoalRevised)
    assert (reworded.text, reworded.status) == ("Get my state ID back", GoalStatus.OPEN)
    assert (achieved.text, achieved.status) == ("Get my state ID back", GoalStatus.ACHIEVED)
    assert participant.goals == {
        goal: Goal("Get my state ID back", GoalDomain.LEGAL, GoalStatus.ACHIEVED)
    }
    assert participant.goals[goal] == ("Get my state ID back", "legal", "achieved")


def test_goals_are_read_only_from_outside() -> None:
    participant = enroll()
    with pytest.raises(TypeError):
        participant.goals[uuid4()] = Goal("x", GoalDomain.OTHER, GoalStatus.OPEN)  # type: ignore[index]


@pytest.mark.parametrize(
    "command",
    [
        lambda p: p.record_goal_progress(actor=CASE_MANAGER, goal_id=uuid4(), note="Went well."),
        lambda p: p.revise_goal(actor=CASE_MANAGER, goal_id=uuid4(), text="Something else"),
    ],
    ids=["progress", "revision"],
)
def test_an_unknown_goal_is_refused(command: Callable[[Participant], None]) -> None:
    participant = enroll()
    with pytest.raises(UnknownGoalError, match="has no goal"):
        command(participant)
    assert participant.collect_events() == []


def test_a_goal_id_is_set_once() -> None:
    participant = enroll()
    goal = participant.set_goal(actor=CASE_MANAGER, text="Housing", domain=GoalDomain.HOUSING)
    participant.collect_events()
    with pytest.raises(DuplicateGoalError, match="already set"):
        participant.set_goal(
            actor=CASE_MANAGER, text="Other", domain=GoalDomain.OTHER, goal_id=goal
        )
    assert participant.collect_events() == []


def test_a_revision_that_changes_nothing_is_refused() -> None:
    participant = enroll()
    goal = participant.set_goal(actor=CASE_MANAGER, text="Housing", domain=GoalDomain.HOUSING)
    participant.collect_events()
    with pytest.raises(GoalUnchangedError, match="must change its text or its status"):
        participant.revise_goal(
            actor=CASE_MANAGER, goal_id=goal, text="Housing", status=GoalStatus.OPEN
        )
    assert participant.collect_events() == []


def test_goal_text_must_not_be_empty() -> None:
    participant = enroll()
    with pytest.raises(ValidationError):
        participant.set_goal(actor=CASE_MANAGER, text="", domain=GoalDomain.HEALTH)
    assert participant.collect_events() == []
    assert participant.goals == {}


# Contacts: the dose of case management.


def test_contacts_are_counted_and_the_latest_is_remembered_even_if_recorded_late() -> None:
    participant = enroll()
    participant.record_contact(
        actor=CASE_MANAGER,
        kind=ContactKind.STREET_OUTREACH,
        contacted_on=CONTACTED,
        minutes=45,
        place="3rd Ave & Pine St",
        notes="Talked about detox options.",
    )
    earlier = datetime(2024, 3, 2, 9, 0, tzinfo=UTC)
    participant.record_contact(
        actor=CASE_MANAGER, kind=ContactKind.PHONE, contacted_on=earlier, minutes=10
    )
    first, second = participant.collect_events()
    assert isinstance(first, ContactRecorded)
    assert isinstance(second, ContactRecorded)
    assert first.occurred_at == CONTACTED
    assert first.kind is ContactKind.STREET_OUTREACH
    assert participant.contact_count == 2
    assert participant.last_contact_at == CONTACTED


def test_contact_notes_are_marked_sensitive_in_the_contract() -> None:
    description = ContactRecorded.model_fields["notes"].description
    assert description == "Sensitive: never disclosed outside case management"


def test_a_contact_id_is_recorded_once() -> None:
    participant = enroll()
    contact = participant.record_contact(
        actor=CASE_MANAGER, kind=ContactKind.OFFICE, contacted_on=CONTACTED, minutes=30
    )
    participant.collect_events()
    with pytest.raises(DuplicateContactError, match="already recorded"):
        participant.record_contact(
            actor=CASE_MANAGER,
            kind=ContactKind.OFFICE,
            contacted_on=CONTACTED,
            minutes=30,
            contact_id=contact,
        )
    assert participant.collect_events() == []
    assert participant.contact_count == 1


@pytest.mark.parametrize(
    ("contacted_on", "minutes"),
    [(datetime(2024, 3, 5, 14, 30), 30), (CONTACTED, -1), (CONTACTED, 1441)],
    ids=["no-time-zone", "negative-minutes", "over-a-day"],
)
def test_a_contact_needs_an_aware_time_and_at_most_a_day(
    contacted_on: datetime, minutes: int
) -> None:
    participant = enroll()
    with pytest.raises(ValidationError):
        participant.record_contact(
            actor=CASE_MANAGER, kind=ContactKind.PHONE, contacted_on=contacted_on, minutes=minutes
        )
    assert participant.collect_events() == []
    assert participant.contact_count == 0


# Living situation and income, HMIS style.


@pytest.mark.parametrize(
    ("situation", "category"),
    [
        (116, "homeless"),
        (101, "homeless"),
        (204, "institutional"),
        (314, "temporary"),
        (410, "permanent"),
        (499, "permanent"),
        (DataQuality.DOESNT_KNOW, "unknown"),
        (DataQuality.NOT_COLLECTED, "unknown"),
        (99, "unknown"),
        (500, "unknown"),
    ],
)
def test_housing_category_groups_hmis_codes(situation: int | DataQuality, category: str) -> None:
    assert housing_category(situation) == category


def test_living_situation_is_a_code_or_a_data_quality_answer_and_the_latest_counts() -> None:
    participant = enroll()
    participant.record_living_situation(actor=CASE_MANAGER, as_of=date(2024, 6, 1), situation=410)
    participant.record_living_situation(actor=CASE_MANAGER, as_of=date(2024, 3, 1), situation=116)
    participant.record_living_situation(
        actor=CASE_MANAGER, as_of=date(2024, 7, 1), situation=DataQuality.PREFERS_NOT_TO_ANSWER
    )
    events = participant.collect_events()
    assert all(isinstance(event, LivingSituationRecorded) for event in events)
    assert participant.living_situation is DataQuality.PREFERS_NOT_TO_ANSWER


@pytest.mark.parametrize("code", [0, 99, 500, 1116])
def test_a_living_situation_code_outside_the_hmis_range_is_refused(code: int) -> None:
    participant = enroll()
    with pytest.raises(LivingSituationCodeError, match="from 100 to 499"):
        participant.record_living_situation(actor=CASE_MANAGER, as_of=ENROLLED_ON, situation=code)
    assert participant.collect_events() == []


def test_income_is_sources_none_at_all_or_a_data_quality_answer() -> None:
    participant = enroll()
    participant.record_income(actor=CASE_MANAGER, as_of=date(2024, 3, 1), sources=())
    participant.record_income(
        actor=CASE_MANAGER,
        as_of=date(2024, 6, 1),
        sources=[IncomeSource.SSI, IncomeSource.SNAP, IncomeSource.SSI],
    )
    participant.record_income(
        actor=CASE_MANAGER, as_of=date(2024, 5, 1), sources=DataQuality.DOESNT_KNOW
    )
    none, some, unknown = participant.collect_events()
    assert isinstance(none, IncomeRecorded)
    assert isinstance(some, IncomeRecorded)
    assert isinstance(unknown, IncomeRecorded)
    assert none.sources == ()
    assert some.sources == (IncomeSource.SSI, IncomeSource.SNAP)
    assert unknown.sources is DataQuality.DOESNT_KNOW
    assert participant.income_sources == (IncomeSource.SSI, IncomeSource.SNAP)


# Status, exit and re-engagement.


def test_the_statuses_are_exactly_the_lead_ones() -> None:
    assert set(EngagementStatus) == {"active", "inactive", "in_the_wind"}
    assert set(ParticipantStatus) == {"active", "inactive", "in_the_wind", "exited"}
    assert set(ExitReason) == {
        "moved_away",
        "graduated",
        "declined_services",
        "incarcerated",
        "deceased",
        "other",
    }


def test_status_changes_are_recorded() -> None:
    participant = enroll()
    participant.change_status(
        actor=CASE_MANAGER, status=EngagementStatus.IN_THE_WIND, reason="No contact in 30 days"
    )
    [event] = participant.collect_events()
    assert isinstance(event, StatusChanged)
    assert event.status is EngagementStatus.IN_THE_WIND
    assert participant.status is ParticipantStatus.IN_THE_WIND


def test_setting_the_same_status_again_is_refused() -> None:
    participant = enroll()
    with pytest.raises(StatusUnchangedError, match="already active"):
        participant.change_status(actor=CASE_MANAGER, status=EngagementStatus.ACTIVE)
    assert participant.collect_events() == []


def test_a_status_change_cannot_exit_a_participant() -> None:
    with pytest.raises(ValidationError):
        StatusChanged.model_validate(
            {
                "originator_id": uuid4(),
                "originator_version": 2,
                "timestamp": CONTACTED,
                "actor": CASE_MANAGER,
                "occurred_at": CONTACTED,
                "person_id": PERSON,
                "status": "exited",
            }
        )


def test_exit_and_reengagement() -> None:
    participant = enroll()
    participant.change_status(actor=CASE_MANAGER, status=EngagementStatus.INACTIVE)
    participant.exit(actor=CASE_MANAGER, exited_on=date(2024, 6, 1), reason=ExitReason.GRADUATED)
    after_exit = (participant.status, participant.exited)
    participant.reengage(actor=CASE_MANAGER, reengaged_on=date(2024, 9, 1))
    _, exit_, back = participant.collect_events()
    assert isinstance(exit_, ParticipantExited)
    assert exit_.reason is ExitReason.GRADUATED
    assert isinstance(back, ParticipantReengaged)
    assert after_exit == (ParticipantStatus.EXITED, True)
    assert participant.status is ParticipantStatus.ACTIVE
    assert not participant.exited
    assert participant.case_manager == "cm.okafor"


def test_only_an_exited_participant_can_reengage() -> None:
    participant = enroll()
    with pytest.raises(NotExitedError, match="is active, not exited"):
        participant.reengage(actor=CASE_MANAGER, reengaged_on=date(2024, 9, 1))
    assert participant.collect_events() == []


AFTER_EXIT: dict[str, Callable[[Participant], object]] = {
    "assign": lambda p: p.assign_case_manager(actor=PROJECT_MANAGER, case_manager="cm.diaz"),
    "goal": lambda p: p.set_goal(actor=CASE_MANAGER, text="Housing", domain=GoalDomain.HOUSING),
    "contact": lambda p: p.record_contact(
        actor=CASE_MANAGER, kind=ContactKind.PHONE, contacted_on=CONTACTED, minutes=5
    ),
    "living": lambda p: p.record_living_situation(
        actor=CASE_MANAGER, as_of=date(2024, 6, 2), situation=116
    ),
    "income": lambda p: p.record_income(actor=CASE_MANAGER, as_of=date(2024, 6, 2), sources=()),
    "status": lambda p: p.change_status(actor=CASE_MANAGER, status=EngagementStatus.ACTIVE),
    "exit again": lambda p: p.exit(
        actor=CASE_MANAGER, exited_on=date(2024, 6, 2), reason=ExitReason.OTHER
    ),
    "summary": share,
}


@pytest.mark.parametrize("command", AFTER_EXIT.values(), ids=AFTER_EXIT)
def test_after_exit_only_reengagement_is_accepted(command: Callable[[Participant], None]) -> None:
    participant = exited()
    with pytest.raises(ParticipantExitedError, match=r"exited on 2024-06-01 \(moved_away\)"):
        command(participant)
    assert participant.collect_events() == []
    assert participant.exited


def test_goal_progress_and_revision_are_refused_after_exit_too() -> None:
    participant = enroll()
    goal = participant.set_goal(actor=CASE_MANAGER, text="Housing", domain=GoalDomain.HOUSING)
    participant.exit(actor=CASE_MANAGER, exited_on=date(2024, 6, 1), reason=ExitReason.OTHER)
    participant.collect_events()
    with pytest.raises(ParticipantExitedError, match="re-engage them first"):
        participant.record_goal_progress(actor=CASE_MANAGER, goal_id=goal, note="Moved in.")
    with pytest.raises(ParticipantExitedError):
        participant.revise_goal(actor=CASE_MANAGER, goal_id=goal, status=GoalStatus.ACHIEVED)
    assert participant.collect_events() == []


# Progress summaries: only under consent, never the notes.


def test_a_progress_summary_is_shared_under_a_covering_consent() -> None:
    participant = enroll()
    summary_id = share(participant)
    [event] = participant.collect_events()
    assert isinstance(event, ProgressSummaryShared)
    assert event.summary_id == summary_id
    assert event.consent_id == CONSENT
    assert event.recipient_role is Role.LIAISON_PROSECUTOR
    assert event.person_id == PERSON
    assert "notes" not in ProgressSummaryShared.model_fields


@pytest.mark.parametrize(
    ("consent_id", "covers", "message"),
    [
        (None, True, "No consent was given"),
        (None, False, "No consent was given"),
        (CONSENT, False, f"Consent {CONSENT} does not cover"),
    ],
    ids=["no-consent", "no-consent-nothing-covered", "consent-does-not-cover"],
)
def test_a_progress_summary_without_a_covering_consent_is_refused(
    consent_id: UUID | None, covers: bool, message: str
) -> None:
    participant = enroll()
    with pytest.raises(DisclosureWithoutConsentError, match=message):
        share(participant, consent_id=consent_id, consent_covers=covers)
    assert participant.collect_events() == []


# Replay and storage.


def full_history() -> tuple[Participant, list[Any]]:
    participant = Participant.enroll(
        actor=CASE_MANAGER,
        person_id=PERSON,
        referral_id=REFERRAL,
        enrolled_on=ENROLLED_ON,
        case_manager="cm.okafor",
    )
    goal = participant.set_goal(actor=CASE_MANAGER, text="Housing", domain=GoalDomain.HOUSING)
    participant.record_goal_progress(actor=CASE_MANAGER, goal_id=goal, note="Applied.")
    participant.revise_goal(actor=CASE_MANAGER, goal_id=goal, status=GoalStatus.ACHIEVED)
    participant.record_contact(
        actor=CASE_MANAGER,
        kind=ContactKind.WARM_HANDOFF,
        contacted_on=CONTACTED,
        minutes=30,
        place="West Precinct",
        notes="Sensitive.",
    )
    participant.record_living_situation(actor=CASE_MANAGER, as_of=ENROLLED_ON, situation=116)
    participant.record_living_situation(
        actor=CASE_MANAGER, as_of=date(2024, 4, 1), situation=DataQuality.NOT_COLLECTED
    )
    participant.record_income(actor=CASE_MANAGER, as_of=ENROLLED_ON, sources=())
    participant.record_income(
        actor=CASE_MANAGER, as_of=date(2024, 4, 1), sources=[IncomeSource.SSDI]
    )
    participant.record_income(
        actor=CASE_MANAGER, as_of=date(2024, 5, 1), sources=DataQuality.PREFERS_NOT_TO_ANSWER
    )
    participant.assign_case_manager(actor=PROJECT_MANAGER, case_manager="cm.diaz")
    participant.change_status(actor=CASE_MANAGER, status=EngagementStatus.IN_THE_WIND)
    share(participant)
    participant.exit(actor=CASE_MANAGER, exited_on=date(2024, 8, 1), reason=ExitReason.DECEASED)
    participant.reengage(actor=CASE_MANAGER, reengaged_on=date(2024, 8, 2))
    return participant, list(participant.collect_events())


def test_replaying_the_events_gives_the_same_participant() -> None:
    participant, events = full_history()
    assert len(events) == 15
    assert all(event.person_id == PERSON for event in events)
    replayed = replay(events)
    assert replayed == participant
    assert replayed.goals == participant.goals
    assert replayed.case_manager == "cm.diaz"


def test_every_participant_event_survives_the_store_round_trip() -> None:
    mapper = PydanticMapper(transcoder=JSONBytesTranscoder())
    _, events = full_history()
    for event in events:
        assert mapper.to_domain_event(mapper.to_stored_event(event)) == event


def replay(events: list[Any]) -> Any:
    aggregate = events[0].mutate(None)
    for event in events[1:]:
        aggregate = event.mutate(aggregate)
    return aggregate


# Random command sequences against a participant and a capped caseload.

HARD_CAP = 3
WARNING = 2
ALLOWED_STATUSES = {"active", "inactive", "in_the_wind", "exited"}


class ParticipantAndCaseload(RuleBasedStateMachine):
    """Commands in any order, as several users might issue them, must keep the rules."""

    def __init__(self) -> None:
        super().__init__()
        self.participant = Participant.enroll(
            actor=CASE_MANAGER,
            person_id=PERSON,
            referral_id=REFERRAL,
            enrolled_on=ENROLLED_ON,
            case_manager=CASE_MANAGER.principal,
        )
        self.others = [(uuid4(), uuid4()) for _ in range(4)]
        # The participant and one other start on the caseload, so the cap is one join away.
        self.caseload = Caseload.open(actor=CASE_MANAGER, case_manager=CASE_MANAGER.principal)
        for participant_id, person_id in [(self.participant.id, PERSON), self.others[0]]:
            self.caseload.join(
                actor=CASE_MANAGER,
                participant_id=participant_id,
                person_id=person_id,
                hard_cap=HARD_CAP,
                warning=WARNING,
            )
        self.events: list[Any] = list(self.participant.collect_events())
        self.caseload_events: list[Any] = list(self.caseload.collect_events())
        self.goal_ids: list[UUID] = []
        self.summaries_allowed = 0

    def run(self, command: Callable[[], object]) -> bool:
        """Runs a command; a refusal must record nothing. Returns whether it was accepted."""
        was_exited = self.participant.exited
        try:
            command()
        except DomainError:
            assert self.participant.collect_events() == []
            assert self.caseload.collect_events() == []
            return False
        new = self.participant.collect_events()
        if was_exited:
            assert all(isinstance(event, ParticipantReengaged) for event in new)
        self.events += new
        self.caseload_events += self.caseload.collect_events()
        return True

    @rule(case_manager=st.sampled_from(["cm.okafor", "cm.diaz", "cm.tran"]))
    def assign(self, case_manager: str) -> None:
        self.run(
            lambda: self.participant.assign_case_manager(
                actor=PROJECT_MANAGER, case_manager=case_manager
            )
        )

    @rule(text=typed_text(min_size=1, max_size=40), domain=st.sampled_from(GoalDomain))
    def set_goal(self, text: str, domain: GoalDomain) -> None:
        goal_id = uuid4()
        if self.run(
            lambda: self.participant.set_goal(
                actor=CASE_MANAGER, text=text, domain=domain, goal_id=goal_id
            )
        ):
            self.goal_ids.append(goal_id)

    @rule(pick=st.integers(0, 3), status=st.sampled_from(GoalStatus))
    def revise_goal(self, pick: int, status: GoalStatus) -> None:
        goal_id = self.goal_ids[pick] if pick < len(self.goal_ids) else uuid4()
        self.run(
            lambda: self.participant.revise_goal(actor=CASE_MANAGER, goal_id=goal_id, status=status)
        )

    @rule(
        kind=st.sampled_from(ContactKind),
        minutes=st.integers(0, 1440),
        at=st.datetimes(
            min_value=datetime(2024, 3, 1), max_value=datetime(2025, 3, 1), timezones=st.just(UTC)
        ),
    )
    def record_contact(self, kind: ContactKind, minutes: int, at: datetime) -> None:
        self.run(
            lambda: self.participant.record_contact(
                actor=CASE_MANAGER, kind=kind, contacted_on=at, minutes=minutes
            )
        )

    @rule(status=st.sampled_from(EngagementStatus))
    def change_status(self, status: EngagementStatus) -> None:
        self.run(lambda: self.participant.change_status(actor=CASE_MANAGER, status=status))

    @rule(reason=st.sampled_from(ExitReason))
    def exit(self, reason: ExitReason) -> None:
        self.run(
            lambda: self.participant.exit(
                actor=CASE_MANAGER, exited_on=date(2024, 6, 1), reason=reason
            )
        )

    @rule()
    def reengage(self) -> None:
        self.run(
            lambda: self.participant.reengage(actor=CASE_MANAGER, reengaged_on=date(2024, 9, 1))
        )

    @rule(with_consent=st.booleans(), covers=st.booleans())
    def share_summary(self, with_consent: bool, covers: bool) -> None:
        exited_before = self.participant.exited
        consent_id = CONSENT if with_consent else None
        accepted = self.run(
            lambda: share(self.participant, consent_id=consent_id, consent_covers=covers)
        )
        assert accepted == (with_consent and covers and not exited_before)
        self.summaries_allowed += accepted

    @rule(pick=st.integers(0, 4))
    def join(self, pick: int) -> None:
        participant_id, person_id = (
            (self.participant.id, PERSON) if pick == 4 else self.others[pick]
        )
        size = self.caseload.size
        warned: list[bool] = []
        accepted = self.run(
            lambda: warned.append(
                self.caseload.join(
                    actor=CASE_MANAGER,
                    participant_id=participant_id,
                    person_id=person_id,
                    hard_cap=HARD_CAP,
                    warning=WARNING,
                )
            )
        )
        if accepted:
            assert warned == [size + 1 > WARNING]
        elif participant_id not in self.caseload.participant_ids:
            assert size == HARD_CAP

    @rule(pick=st.integers(0, 4))
    def leave(self, pick: int) -> None:
        participant_id = self.participant.id if pick == 4 else self.others[pick][0]
        self.run(lambda: self.caseload.leave(actor=CASE_MANAGER, participant_id=participant_id))

    @invariant()
    def caseload_never_exceeds_the_hard_cap(self) -> None:
        assert self.caseload.size <= HARD_CAP

    @invariant()
    def status_is_one_of_the_allowed_values(self) -> None:
        assert self.participant.status.value in ALLOWED_STATUSES
        assert self.participant.exited == (self.participant.status is ParticipantStatus.EXITED)

    @invariant()
    def nothing_but_reengagement_follows_an_exit(self) -> None:
        for before, after in zip(self.events, self.events[1:], strict=False):
            if isinstance(before, ParticipantExited):
                assert isinstance(after, ParticipantReengaged)

    @invariant()
    def summaries_exist_only_under_consent(self) -> None:
        summaries = [e for e in self.events if isinstance(e, ProgressSummaryShared)]
        assert all(summary.consent_id == CONSENT for summary in summaries)
        assert len(summaries) == self.summaries_allowed

    def teardown(self) -> None:
        assert replay(self.events) == self.participant
        assert replay(self.caseload_events) == self.caseload
        mapper = PydanticMapper(transcoder=JSONBytesTranscoder())
        for event in self.events + self.caseload_events:
            assert mapper.to_domain_event(mapper.to_stored_event(event)) == event


ParticipantAndCaseload.TestCase.settings = settings(
    max_examples=50, stateful_step_count=30, deadline=None, database=None
)
TestParticipantAndCaseload = ParticipantAndCaseload.TestCase
