"""Commands on one aggregate: a POST path/{id} for each step of a referral, a case, a
consent or a participant."""

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter

from events.base import Actor
from services import commands as c
from services.application import LeadApplication, Receipt
from services.http.problems import PROBLEM_RESPONSES
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    RECORDS,
    ActorDep,
    ReceiptOut,
    out,
)


def create_routes(
    router: APIRouter,
    path: str,
    command: type[c.Command],
    handler: Callable[[UUID, Any, Actor], Receipt],
    summary: str,
    operation_id: str,
    guard: Callable[[UUID, Actor], None] | None = None,
) -> None:
    """POST path/{id}: one command on one aggregate, tagged with its area (`/v1/<area>/`)."""

    def endpoint(id: UUID, body: command, actor: ActorDep) -> ReceiptOut:  # type: ignore[valid-type]
        if guard is not None:
            guard(id, actor)
        return out(handler(id, body, actor))

    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        dependencies=RECORDS,
        response_model=ReceiptOut,
        summary=summary,
        name=summary,
        operation_id=operation_id,
        tags=[path.split("/")[2]],
        responses=PROBLEM_RESPONSES,
    )


def participant_steps(
    app: LeadApplication,
) -> list[tuple[str, type[c.Command], Callable[[UUID, Any, Actor], Receipt], str, str]]:
    """Participant commands, addressed by the person's id: path, command, handler, summary,
    operationId."""
    base = "/v1/participants/{id}"
    update = app.update_participant
    return [
        (
            f"{base}/case-manager",
            c.AssignCaseManager,
            app.assign_case_manager,
            "Assign or reassign the case manager",
            "assignCaseManager",
        ),
        (f"{base}/goals", c.SetGoal, update, "Set a goal (the participant's)", "setGoal"),
        (
            f"{base}/goals/progress",
            c.RecordGoalProgress,
            update,
            "Record progress on a goal",
            "recordGoalProgress",
        ),
        (f"{base}/goals/revision", c.ReviseGoal, update, "Revise a goal", "reviseGoal"),
        (f"{base}/contacts", c.RecordContact, update, "Record a contact", "recordContact"),
        (
            f"{base}/living-situation",
            c.RecordLivingSituation,
            update,
            "Record the living situation",
            "recordLivingSituation",
        ),
        (f"{base}/income", c.RecordIncome, update, "Record income", "recordIncome"),
        (
            f"{base}/status",
            c.ChangeStatus,
            update,
            "Change engagement status",
            "changeParticipantStatus",
        ),
        (
            f"{base}/exit",
            c.ExitParticipant,
            app.exit_participant,
            "Record an exit",
            "exitParticipant",
        ),
        (
            f"{base}/reengage",
            c.ReengageParticipant,
            app.reengage_participant,
            "Record re-engagement",
            "reengageParticipant",
        ),
        (
            f"{base}/progress-summaries",
            c.ShareProgressSummary,
            app.share_progress_summary,
            "Share a progress summary with a partner (consent-checked)",
            "shareProgressSummary",
        ),
    ]


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """Every POST .../{id}/<step>, in the table's order."""
    app = ctx.application
    works_with = ctx.works_with
    participant_guard = works_with
    steps: list[
        tuple[
            str,
            type[c.Command],
            Callable[[UUID, Any, Actor], Receipt],
            str,
            str,
            Callable[[UUID, Actor], None] | None,
        ]
    ] = [
        (
            "/v1/referrals/{id}/approve",
            c.ApproveReferral,
            app.approve_referral,
            "Approve",
            "approveReferral",
            None,
        ),
        (
            "/v1/referrals/{id}/decline",
            c.DeclineReferral,
            app.decline_referral,
            "Decline",
            "declineReferral",
            None,
        ),
        (
            "/v1/referrals/{id}/warm-handoff",
            c.CompleteWarmHandoff,
            app.complete_warm_handoff,
            "Record the warm handoff",
            "recordWarmHandoff",
            None,
        ),
        (
            "/v1/referrals/{id}/intake-schedule",
            c.ScheduleIntake,
            app.schedule_intake,
            "Schedule intake",
            "scheduleIntake",
            None,
        ),
        (
            "/v1/referrals/{id}/intake",
            c.CompleteIntake,
            app.complete_intake,
            "Complete intake (enrolls)",
            "completeIntake",
            None,
        ),
        (
            "/v1/referrals/{id}/lapse",
            c.LapseReferral,
            app.lapse_referral,
            "Lapse a referral past its intake deadline",
            "lapseReferral",
            None,
        ),
        (
            "/v1/referrals/{id}/withdraw",
            c.WithdrawReferral,
            app.withdraw_referral,
            "The person declines or withdraws",
            "withdrawReferral",
            None,
        ),
        (
            "/v1/cases/{id}/warrants",
            c.IssueWarrant,
            app.update_case,
            "Issue a warrant",
            "issueWarrant",
            None,
        ),
        (
            "/v1/cases/{id}/warrants/quash",
            c.QuashWarrant,
            app.update_case,
            "Quash a warrant",
            "quashWarrant",
            None,
        ),
        (
            "/v1/cases/{id}/charging-decisions",
            c.RecordChargingDecision,
            app.update_case,
            "Record a charging decision",
            "recordChargingDecision",
            None,
        ),
        (
            "/v1/cases/{id}/recommendations",
            c.RecordLiaisonRecommendation,
            app.update_case,
            "Record the liaison prosecutor's recommendation",
            "recordLiaisonRecommendation",
            None,
        ),
        (
            "/v1/cases/{id}/hearings",
            c.ScheduleHearing,
            app.update_case,
            "Schedule a hearing",
            "scheduleHearing",
            None,
        ),
        (
            "/v1/cases/{id}/disposition",
            c.RecordDisposition,
            app.update_case,
            "Record the disposition",
            "recordDisposition",
            None,
        ),
        (
            "/v1/consents/{id}/revoke",
            c.RevokeConsent,
            app.revoke_consent,
            "Revoke a consent",
            "revokeConsent",
            None,
        ),
        (
            "/v1/consents/{id}/expire",
            c.ExpireConsent,
            app.expire_consent,
            "Record a consent's expiry",
            "expireConsent",
            None,
        ),
        *[(*step, participant_guard) for step in participant_steps(app)],
    ]
    for path, command, handler, summary, operation_id, guard in steps:
        create_routes(router, path, command, handler, summary, operation_id, guard)
