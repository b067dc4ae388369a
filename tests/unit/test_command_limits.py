"""A command takes no more than the event it records can hold.

A value the command accepted but its event refused was a 500 after validation (found
by the API fuzzing: a 100-character warrant id, where `WarrantIssued` holds 80).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from events import case, consent, participant, referral
from services import commands as c

RECORDS: list[tuple[type[BaseModel], type[BaseModel]]] = [
    (c.ReceiveReferral, referral.ReferralReceived),
    (c.ApproveReferral, referral.ReferralApproved),
    (c.DeclineReferral, referral.ReferralDeclined),
    (c.CompleteWarmHandoff, referral.WarmHandoffCompleted),
    (c.ScheduleIntake, referral.IntakeScheduled),
    (c.CompleteIntake, referral.IntakeCompleted),
    (c.LapseReferral, referral.IntakeDeadlineLapsed),
    (c.WithdrawReferral, referral.ReferralWithdrawnByPerson),
    (c.OpenCase, case.CaseOpened),
    (c.IssueWarrant, case.WarrantIssued),
    (c.QuashWarrant, case.WarrantQuashed),
    (c.RecordChargingDecision, case.ChargingDecisionRecorded),
    (c.RecordLiaisonRecommendation, case.LiaisonRecommendationRecorded),
    (c.ScheduleHearing, case.HearingScheduled),
    (c.RecordDisposition, case.DispositionRecorded),
    (c.AssignCaseManager, participant.CaseManagerAssigned),
    (c.SetGoal, participant.GoalSet),
    (c.RecordGoalProgress, participant.GoalProgressRecorded),
    (c.ReviseGoal, participant.GoalRevised),
    (c.RecordContact, participant.ContactRecorded),
    (c.RecordLivingSituation, participant.LivingSituationRecorded),
    (c.RecordIncome, participant.IncomeRecorded),
    (c.ChangeStatus, participant.StatusChanged),
    (c.ExitParticipant, participant.ParticipantExited),
    (c.ReengageParticipant, participant.ParticipantReengaged),
    (c.ShareProgressSummary, participant.ProgressSummaryShared),
    (c.GrantConsent, consent.ConsentGranted),
    (c.RevokeConsent, consent.ConsentRevoked),
    (c.ExpireConsent, consent.ConsentExpired),
]


def limits(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, info in model.model_fields.items():
        bounds = {}
        for item in info.metadata:
            for key in ("max_length", "le", "lt", "ge", "gt"):
                if getattr(item, key, None) is not None:
                    bounds[key] = getattr(item, key)
        found[name] = bounds
    return found


@pytest.mark.parametrize(("command", "event"), RECORDS, ids=lambda m: m.__name__)
def test_what_a_command_accepts_its_event_holds(
    command: type[BaseModel], event: type[BaseModel]
) -> None:
    held = limits(event)
    for name, bounds in limits(command).items():
        if name not in held:
            continue
        kept = held[name]
        for upper in ("max_length", "le", "lt"):
            if upper in kept:
                assert upper in bounds and bounds[upper] <= kept[upper], (name, bounds, kept)
        for lower in ("ge", "gt"):
            if lower in kept:
                assert lower in bounds and bounds[lower] >= kept[lower], (name, bounds, kept)
