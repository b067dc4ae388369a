"""A court case about a participant: warrants, charging decisions, hearings, disposition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from uuid import UUID, uuid4

from aggregates.base import DomainError, LeadAggregate, occurred
from events.base import Actor, DomainEvent
from events.case import (
    CaseOpened,
    CaseOrigin,
    Charge,
    ChargingDecision,
    ChargingDecisionRecorded,
    Disposition,
    DispositionRecorded,
    HearingScheduled,
    LiaisonRecommendationRecorded,
    WarrantIssued,
    WarrantQuashed,
)


class NoChargesError(DomainError):
    """A case is opened on its charges, so it needs at least one."""


class IncidentAfterFilingError(DomainError):
    """A case cannot be filed before the incident it is about happened."""


class FilingDateError(DomainError):
    """The filing date goes with, and only with, a decision to file."""


class DuplicateWarrantError(DomainError):
    """A warrant id names one warrant, so it is issued once."""


class UnknownWarrantError(DomainError):
    """Only a warrant issued in this case can be quashed in it."""


class WarrantAlreadyQuashedError(DomainError):
    """A quashed warrant no longer stands, so it cannot be quashed again."""


class CaseClosedError(DomainError):
    """A disposition closes the case; nothing further happens in it."""


@dataclass(frozen=True)
class Warrant:
    """A warrant as the case knows it: outstanding until quashed."""

    warrant_id: str
    issued_on: date
    court: str
    quashed_on: date | None = None


@dataclass(frozen=True)
class Hearing:
    at: datetime
    kind: str
    court: str


def derive_origin(filing_date: date | None, enrolled_on: date | None) -> CaseOrigin:
    """Filed on or after enrollment is post-enrollment; anything else was there before."""
    if enrolled_on is not None and filing_date is not None and filing_date >= enrolled_on:
        return CaseOrigin.POST_ENROLLMENT
    return CaseOrigin.PRE_EXISTING


class Case(LeadAggregate):
    def __init__(self) -> None:
        self.person_id: UUID | None = None
        self.case_number = ""
        self.court = ""
        self.jurisdiction = ""
        self.origin: CaseOrigin | None = None
        self.incident_date: date | None = None
        self.filing_date: date | None = None
        self.charges: tuple[Charge, ...] = ()
        self.warrants: dict[str, Warrant] = {}
        self.charging_decision: ChargingDecision | None = None
        self.recommendation: str | None = None
        self.hearings: list[Hearing] = []
        self.disposition: Disposition | None = None
        self.disposed_on: date | None = None

    @property
    def closed(self) -> bool:
        return self.disposition is not None

    @property
    def outstanding_warrants(self) -> tuple[str, ...]:
        return tuple(w.warrant_id for w in self.warrants.values() if w.quashed_on is None)

    @classmethod
    def open(
        cls,
        *,
        actor: Actor,
        person_id: UUID,
        case_number: str,
        court: str,
        jurisdiction: str,
        incident_date: date,
        charges: Sequence[Charge],
        enrolled_on: date | None,
        filing_date: date | None = None,
        occurred_at: datetime | None = None,
        case_id: UUID | None = None,
    ) -> Case:
        """The origin is derived from the dates, so it cannot disagree with them."""
        if not charges:
            raise NoChargesError(
                f"Case {case_number} has no charges; record at least one charge to open it."
            )
        _check_filing_after_incident(case_number, incident_date, filing_date)
        return cls._create(
            CaseOpened,
            id=case_id or uuid4(),
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=person_id,
            case_number=case_number,
            court=court,
            jurisdiction=jurisdiction,
            origin=derive_origin(filing_date, enrolled_on),
            incident_date=incident_date,
            filing_date=filing_date,
            charges=tuple(charges),
        )

    def issue_warrant(
        self,
        *,
        actor: Actor,
        warrant_id: str,
        issued_on: date,
        court: str,
        occurred_at: datetime | None = None,
    ) -> None:
        self._check_open("warrant")
        if warrant_id in self.warrants:
            raise DuplicateWarrantError(
                f"Warrant {warrant_id} was already issued in case {self.case_number}; "
                "give a new warrant its own id."
            )
        self.trigger_event(
            WarrantIssued,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self.person_id,
            warrant_id=warrant_id,
            issued_on=issued_on,
            court=court,
        )

    def quash_warrant(
        self,
        *,
        actor: Actor,
        warrant_id: str,
        quashed_on: date,
        occurred_at: datetime | None = None,
    ) -> None:
        """Allowed after the disposition too: a warrant left outstanding must still be cleared."""
        warrant = self.warrants.get(warrant_id)
        if warrant is None:
            known = ", ".join(self.warrants) or "none"
            raise UnknownWarrantError(
                f"Case {self.case_number} has no warrant {warrant_id}; its warrants are: {known}."
            )
        if warrant.quashed_on is not None:
            raise WarrantAlreadyQuashedError(
                f"Warrant {warrant_id} was already quashed on {warrant.quashed_on}; "
                "only an outstanding warrant can be quashed."
            )
        self.trigger_event(
            WarrantQuashed,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self.person_id,
            warrant_id=warrant_id,
            quashed_on=quashed_on,
        )

    def record_charging_decision(
        self,
        *,
        actor: Actor,
        decision: ChargingDecision,
        decided_on: date,
        filing_date: date | None = None,
        note: str | None = None,
        enrolled_on: date | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """A filing decides, by its date against enrollment, whether the case is post-enrollment."""
        self._check_open("charging decision")
        if decision is ChargingDecision.FILED and filing_date is None:
            raise FilingDateError("A decision to file needs the date the case was filed.")
        if decision is not ChargingDecision.FILED and filing_date is not None:
            raise FilingDateError(
                f"Only a decision to file has a filing date; leave it out for a "
                f"'{decision.value}' decision."
            )
        _check_filing_after_incident(self.case_number, self.incident_date, filing_date)
        self.trigger_event(
            ChargingDecisionRecorded,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self.person_id,
            decision=decision,
            decided_on=decided_on,
            filing_date=filing_date,
            note=note,
            origin=derive_origin(filing_date, enrolled_on) if filing_date else None,
        )

    def record_liaison_recommendation(
        self,
        *,
        actor: Actor,
        recommendation: str,
        recommended_on: date,
        occurred_at: datetime | None = None,
    ) -> None:
        self._check_open("recommendation")
        self.trigger_event(
            LiaisonRecommendationRecorded,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self.person_id,
            recommendation=recommendation,
            recommended_on=recommended_on,
        )

    def schedule_hearing(
        self,
        *,
        actor: Actor,
        hearing_at: datetime,
        kind: str,
        court: str,
        occurred_at: datetime | None = None,
    ) -> None:
        self._check_open("hearing")
        self.trigger_event(
            HearingScheduled,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self.person_id,
            hearing_at=hearing_at,
            kind=kind,
            court=court,
        )

    def record_disposition(
        self,
        *,
        actor: Actor,
        disposition: Disposition,
        disposed_on: date,
        occurred_at: datetime | None = None,
    ) -> None:
        self._check_open("disposition")
        self.trigger_event(
            DispositionRecorded,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self.person_id,
            disposition=disposition,
            disposed_on=disposed_on,
        )

    def _check_open(self, what: str) -> None:
        if self.disposition is not None:
            raise CaseClosedError(
                f"Case {self.case_number} was closed by a disposition ({self.disposition.value}) "
                f"on {self.disposed_on}, so no further {what} can be recorded in it; "
                "a new matter needs a case of its own."
            )

    def when(self, event: DomainEvent) -> None:
        match event:
            case CaseOpened():
                self.person_id = event.person_id
                self.case_number = event.case_number
                self.court = event.court
                self.jurisdiction = event.jurisdiction
                self.origin = event.origin
                self.incident_date = event.incident_date
                self.filing_date = event.filing_date
                self.charges = event.charges
            case WarrantIssued():
                self.warrants[event.warrant_id] = Warrant(
                    event.warrant_id, event.issued_on, event.court
                )
            case WarrantQuashed():
                warrant = self.warrants[event.warrant_id]
                self.warrants[event.warrant_id] = replace(warrant, quashed_on=event.quashed_on)
            case ChargingDecisionRecorded():
                self.charging_decision = event.decision
                if event.filing_date is not None:
                    self.filing_date = event.filing_date
                if event.origin is not None:
                    self.origin = event.origin
            case LiaisonRecommendationRecorded():
                self.recommendation = event.recommendation
            case HearingScheduled():
                self.hearings.append(Hearing(event.hearing_at, event.kind, event.court))
            case DispositionRecorded():
                self.disposition = event.disposition
                self.disposed_on = event.disposed_on
            case _:
                super().when(event)


def _check_filing_after_incident(
    case_number: str, incident_date: date | None, filing_date: date | None
) -> None:
    if incident_date is not None and filing_date is not None and incident_date > filing_date:
        raise IncidentAfterFilingError(
            f"Case {case_number} cannot be filed on {filing_date}, before its incident on "
            f"{incident_date}; the filing date must be on or after the incident date."
        )
