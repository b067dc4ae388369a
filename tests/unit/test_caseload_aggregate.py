from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from aggregates.caseload import (
    AlreadyOnCaseloadError,
    Caseload,
    CaseloadCapReachedError,
    NotOnCaseloadError,
    caseload_id,
)
from events.base import Actor, Role
from events.participant import CaseloadOpened, ParticipantJoinedCaseload, ParticipantLeftCaseload
from infra.postgres.mapper import JSONBytesTranscoder, PydanticMapper

PROJECT_MANAGER = Actor(
    principal="pm.larsen", role=Role.PROJECT_MANAGER, organisation="LEAD Seattle-King County"
)
CM = "cm.okafor"


def open_caseload() -> Caseload:
    caseload = Caseload.open(actor=PROJECT_MANAGER, case_manager=CM)
    caseload.collect_events()
    return caseload


def join(caseload: Caseload, hard_cap: int = 3, warning: int = 2) -> tuple[UUID, UUID, bool]:
    participant_id, person_id = uuid4(), uuid4()
    warned = caseload.join(
        actor=PROJECT_MANAGER,
        participant_id=participant_id,
        person_id=person_id,
        hard_cap=hard_cap,
        warning=warning,
    )
    return participant_id, person_id, warned


def test_each_case_manager_has_one_caseload_id() -> None:
    assert caseload_id(CM) == caseload_id("cm.okafor")
    assert caseload_id(CM) != caseload_id("cm.diaz")
    caseload = Caseload.open(actor=PROJECT_MANAGER, case_manager=CM)
    [event] = caseload.collect_events()
    assert isinstance(event, CaseloadOpened)
    assert caseload.id == caseload_id(CM)
    assert caseload.case_manager == CM
    assert caseload.size == 0


def test_joining_records_the_participants_person_and_warns_above_the_warning_level() -> None:
    caseload = open_caseload()
    participant_id, person_id, first_warned = join(caseload)
    *_, second_warned = join(caseload)
    *_, third_warned = join(caseload)
    assert (first_warned, second_warned, third_warned) == (False, False, True)
    assert caseload.size == 3
    first, *_ = caseload.collect_events()
    assert isinstance(first, ParticipantJoinedCaseload)
    assert (first.participant_id, first.person_id) == (participant_id, person_id)
    assert first.partition_key == str(person_id)


def test_the_site_defaults_warn_above_twenty_and_stop_at_twenty_five() -> None:
    caseload = open_caseload()
    warnings = [join(caseload, hard_cap=25, warning=20)[2] for _ in range(25)]
    assert warnings == [False] * 20 + [True] * 5
    with pytest.raises(CaseloadCapReachedError):
        join(caseload, hard_cap=25, warning=20)


def test_a_full_caseload_refuses_a_new_participant_and_says_why() -> None:
    caseload = open_caseload()
    for _ in range(3):
        join(caseload)
    caseload.collect_events()
    with pytest.raises(
        CaseloadCapReachedError, match=r"cm\.okafor's caseload already holds 3 .* the cap is 3"
    ):
        join(caseload)
    assert caseload.collect_events() == []
    assert caseload.size == 3


def test_a_lowered_cap_refuses_new_participants_until_the_caseload_is_below_it() -> None:
    caseload = open_caseload()
    for _ in range(3):
        join(caseload)
    with pytest.raises(CaseloadCapReachedError, match="holds 3 participants and the cap is 2"):
        join(caseload, hard_cap=2, warning=1)


def test_leaving_frees_a_place() -> None:
    caseload = open_caseload()
    first, person, _ = join(caseload)
    join(caseload)
    join(caseload)
    caseload.leave(actor=PROJECT_MANAGER, participant_id=first)
    assert first not in caseload.participant_ids
    join(caseload)
    left, _ = caseload.collect_events()[3:]
    assert isinstance(left, ParticipantLeftCaseload)
    assert (left.participant_id, left.person_id) == (first, person)
    assert caseload.size == 3


def test_a_participant_joins_a_caseload_once() -> None:
    caseload = open_caseload()
    participant_id, person_id, _ = join(caseload)
    caseload.collect_events()
    with pytest.raises(AlreadyOnCaseloadError, match=r"already on cm\.okafor's caseload"):
        caseload.join(
            actor=PROJECT_MANAGER,
            participant_id=participant_id,
            person_id=person_id,
            hard_cap=3,
            warning=2,
        )
    assert caseload.collect_events() == []
    assert caseload.size == 1


def test_only_a_participant_on_the_caseload_can_leave_it() -> None:
    caseload = open_caseload()
    with pytest.raises(NotOnCaseloadError, match=r"not on cm\.okafor's caseload"):
        caseload.leave(actor=PROJECT_MANAGER, participant_id=uuid4())
    assert caseload.collect_events() == []


def history() -> tuple[Caseload, list[Any]]:
    caseload = Caseload.open(actor=PROJECT_MANAGER, case_manager=CM)
    first, *_ = join(caseload)
    join(caseload)
    caseload.leave(actor=PROJECT_MANAGER, participant_id=first)
    return caseload, list(caseload.collect_events())


def test_replaying_the_events_gives_the_same_caseload() -> None:
    caseload, events = history()
    replayed: Any = events[0].mutate(None)
    for event in events[1:]:
        replayed = event.mutate(replayed)
    assert replayed == caseload
    assert replayed.size == 1


def test_every_caseload_event_survives_the_store_round_trip() -> None:
    mapper = PydanticMapper(transcoder=JSONBytesTranscoder())
    _, events = history()
    assert len(events) == 4
    for event in events:
        assert mapper.to_domain_event(mapper.to_stored_event(event)) == event
