"""The HTTP API. Handlers only translate: build a command, call the service, shape the answer.

(No `from __future__ import annotations` here: FastAPI reads the command classes
from the annotations of the endpoint functions made by `command_endpoint`.)
"""

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ValidationError

from events.base import Actor, Role
from events.envelope import CloudEvent
from projections import agenda as agenda_queries
from projections import audit as audit_queries
from projections import caseloads as caseload_queries
from projections import evaluation
from projections import queue as queue_queries
from projections.referrals import get_referral
from services import commands as c
from services import reads
from services.application import LeadApplication, Receipt
from services.errors import ConcurrencyError, DomainError, NotFoundError


class ReceiptOut(BaseModel):
    id: UUID
    person_id: UUID | None
    position: int
    version: int
    warnings: tuple[str, ...] = ()


class DisclosureAnswer(BaseModel):
    allowed: bool
    consent_id: UUID | None


def actor_from_headers(
    x_lead_principal: Annotated[str, Header(description="Who is acting")],
    x_lead_role: Annotated[Role, Header(description="Their role")],
    x_lead_organisation: Annotated[str, Header(description="Their organisation")],
) -> Actor:
    """Until authentication exists (issue 5) the caller states who they are."""
    try:
        return Actor(principal=x_lead_principal, role=x_lead_role, organisation=x_lead_organisation)
    except ValidationError as exc:
        raise HTTPException(422, detail=exc.errors(include_url=False)) from None


ActorDep = Annotated[Actor, Depends(actor_from_headers)]


def out(receipt: Receipt) -> ReceiptOut:
    return ReceiptOut(
        id=receipt.id,
        person_id=receipt.person_id,
        position=receipt.position,
        version=receipt.version,
        warnings=receipt.warnings,
    )


def create_routes(
    router: APIRouter,
    path: str,
    command: type[c.Command],
    handler: Callable[[UUID, Any, Actor], Receipt],
    summary: str,
) -> None:
    """POST path/{id}: one command on one aggregate."""

    def endpoint(id: UUID, body: command, actor: ActorDep) -> ReceiptOut:  # type: ignore[valid-type]
        return out(handler(id, body, actor))

    router.add_api_route(
        path, endpoint, methods=["POST"], response_model=ReceiptOut, summary=summary, name=summary
    )


def create_api(
    application: LeadApplication,
    read_pool: ConnectionPool[Any],
    lifespan: Callable[..., Any] | None = None,
    *,
    suppress_below: int = 11,
    equity_baseline: dict[str, int] | None = None,
    record_disclosures: Callable[[list[CloudEvent]], None] | None = None,
    source: str = "urn:lead:site:lead-site",
) -> FastAPI:
    api = FastAPI(
        title="LEAD coordination backend",
        version="0.1.0",
        description="System of record for a LEAD site: referrals, contacts, cases, consents.",
        lifespan=lifespan,
    )
    app = application

    @api.exception_handler(DomainError)
    async def _domain_error(_: Any, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=409)

    @api.exception_handler(ConcurrencyError)
    async def _conflict(_: Any, exc: ConcurrencyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": "ConcurrencyError"}, status_code=409)

    @api.exception_handler(NotFoundError)
    async def _not_found(_: Any, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": "NotFoundError"}, status_code=404)

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # -- policy ----------------------------------------------------------------------
    @api.post("/v1/policy", status_code=201, response_model=ReceiptOut)
    def adopt_policy(command: c.AdoptPolicy, actor: ActorDep) -> ReceiptOut:
        return out(app.adopt_policy(command, actor))

    @api.get("/v1/policy")
    def read_policy() -> dict[str, Any]:
        policy = app.get_policy()
        return {
            "versions": [{"version": v, **t.model_dump(mode="json")} for v, t in policy.versions]
        }

    # -- referrals -----------------------------------------------------------------
    @api.post("/v1/referrals", status_code=201, response_model=ReceiptOut)
    def receive_referral(command: c.ReceiveReferral, actor: ActorDep) -> ReceiptOut:
        return out(app.receive_referral(command, actor))

    @api.get("/v1/referrals/{referral_id}")
    def read_referral(referral_id: UUID) -> dict[str, Any]:
        with read_pool.connection() as conn:
            conn.row_factory = dict_row
            referral = get_referral(conn, referral_id)
        if referral is None:
            raise HTTPException(404, detail=f"no referral {referral_id} (yet)")
        return referral

    def read(query: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with read_pool.connection() as conn:
            conn.row_factory = dict_row
            return query(conn, *args, **kwargs)

    def recorded(view: list[dict[str, Any]], actor: Actor, channel: str) -> list[dict[str, Any]]:
        """Every disclosure is on `lead.audit.v1` before the answer leaves."""
        if record_disclosures is not None and view:
            record_disclosures(
                reads.liaison_disclosures(view, actor, source=source, channel=channel)
            )
        return view

    def disclose(query: Callable[..., Any], *args: Any) -> Any:
        """A consent-checked read: the query gets the application to ask about consent."""
        with read_pool.connection() as conn:
            conn.row_factory = dict_row
            return query(app, conn, *args)

    # -- caseloads -----------------------------------------------------------------------
    @api.get("/v1/caseloads")
    def caseloads(case_manager: str | None = None) -> list[dict[str, Any]]:
        """Each case manager's caseload size against the policy's target, warning and cap."""
        result: list[dict[str, Any]] = read(
            caseload_queries.list_caseloads, now=datetime.now(UTC), case_manager=case_manager
        )
        return result

    @api.get("/v1/caseloads/{case_manager}")
    def caseload(case_manager: str) -> list[dict[str, Any]]:
        """One caseload: last contact, days since, contacts in 30 days, open goals, in the wind."""
        result: list[dict[str, Any]] = read(
            caseload_queries.list_caseload, case_manager, now=datetime.now(UTC)
        )
        return result

    # -- referral queue and OWG agenda ------------------------------------------------------
    @api.get("/v1/queue")
    def queue(pathway: str | None = None) -> dict[str, Any]:
        """Open referrals in the protocol's priority order, and the places left."""
        try:
            entries = read(queue_queries.list_queue, today=date.today(), pathway=pathway)
        except ValueError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        return {"capacity_left": app.capacity_left(), "referrals": entries}

    @api.get("/v1/owg-agenda")
    def owg_agenda(since: datetime, until: datetime | None = None) -> Any:
        """What changed since the last OWG meeting: the case-conference agenda."""
        try:
            return read(agenda_queries.agenda, since=since, until=until or datetime.now(UTC))
        except ValueError as exc:
            raise HTTPException(422, detail=str(exc)) from None

    # -- audit -------------------------------------------------------------------------
    @api.get("/v1/audit/trail")
    def audit_trail(
        person_id: UUID | None = None, since: datetime | None = None, limit: int = 1000
    ) -> Any:
        """Every event with its actor, and every disclosure made or withheld."""
        return read(
            audit_queries.trail, person_id=person_id, since=since, limit=max(1, min(limit, 10_000))
        )

    # -- liaison prosecutor -------------------------------------------------------------
    @api.get("/v1/liaison/cases")
    def liaison_cases(actor: ActorDep) -> list[dict[str, Any]]:
        """Cases of the people whose consent covers the caller now; never contact notes."""
        result: list[dict[str, Any]] = disclose(reads.liaison_case_view, actor)
        return recorded(result, actor, "api:/v1/liaison/cases")

    @api.get("/v1/liaison/cases/{person_id}")
    def liaison_person(person_id: UUID, actor: ActorDep) -> dict[str, Any]:
        found: list[dict[str, Any]] = disclose(reads.liaison_case_view, actor, person_id)
        if not found:
            raise HTTPException(404, detail="no case view for that person that you may see")
        return recorded(found, actor, "api:/v1/liaison/cases/{person_id}")[0]

    # -- evaluation (de-identified, small cells suppressed) -----------------------------------
    metrics: dict[str, Callable[..., Any]] = {
        "referrals-by-pathway-and-month": evaluation.referrals_by_pathway_and_month,
        "net-widening": evaluation.net_widening,
        "time-to-intake": evaluation.time_to_intake,
        "lapses": evaluation.lapses,
        "contacts-per-participant-month": evaluation.contacts_per_participant_month,
        "housing-transitions": evaluation.housing_transitions,
        "income-transitions": evaluation.income_transitions,
        "filings-before-after-enrollment": evaluation.filings_before_after_enrollment,
    }

    @api.get("/v1/metrics/referrals-by-race-ethnicity")
    def equity() -> Any:
        """Referrals by race and ethnicity beside the site's baseline of eligible arrests."""
        return read(
            evaluation.referrals_by_race_ethnicity,
            equity_baseline or {},
            suppress_below=suppress_below,
        )

    @api.get("/v1/metrics/{name}")
    def metric(name: str) -> Any:
        if name not in metrics:
            known = ", ".join(sorted([*metrics, "referrals-by-race-ethnicity"]))
            raise HTTPException(404, detail=f"no metric {name!r}; known: {known}")
        return read(metrics[name], suppress_below=suppress_below)

    router = APIRouter()
    steps: list[tuple[str, type[c.Command], Callable[[UUID, Any, Actor], Receipt], str]] = [
        (
            "/v1/referrals/{id}/approve",
            c.ApproveReferral,
            app.approve_referral,
            "Approve a referral",
        ),
        (
            "/v1/referrals/{id}/decline",
            c.DeclineReferral,
            app.decline_referral,
            "Decline a referral",
        ),
        (
            "/v1/referrals/{id}/warm-handoff",
            c.CompleteWarmHandoff,
            app.complete_warm_handoff,
            "Record the warm handoff",
        ),
        (
            "/v1/referrals/{id}/intake-schedule",
            c.ScheduleIntake,
            app.schedule_intake,
            "Schedule intake",
        ),
        (
            "/v1/referrals/{id}/intake",
            c.CompleteIntake,
            app.complete_intake,
            "Complete intake (enrolls)",
        ),
        (
            "/v1/referrals/{id}/lapse",
            c.LapseReferral,
            app.lapse_referral,
            "Lapse a referral past its intake deadline",
        ),
        (
            "/v1/referrals/{id}/withdraw",
            c.WithdrawReferral,
            app.withdraw_referral,
            "The person declines or withdraws",
        ),
        ("/v1/cases/{id}/warrants", c.IssueWarrant, app.update_case, "Issue a warrant"),
        ("/v1/cases/{id}/warrants/quash", c.QuashWarrant, app.update_case, "Quash a warrant"),
        (
            "/v1/cases/{id}/charging-decisions",
            c.RecordChargingDecision,
            app.update_case,
            "Record a charging decision",
        ),
        (
            "/v1/cases/{id}/recommendations",
            c.RecordLiaisonRecommendation,
            app.update_case,
            "Record the liaison prosecutor's recommendation",
        ),
        ("/v1/cases/{id}/hearings", c.ScheduleHearing, app.update_case, "Schedule a hearing"),
        (
            "/v1/cases/{id}/disposition",
            c.RecordDisposition,
            app.update_case,
            "Record the disposition",
        ),
        ("/v1/consents/{id}/revoke", c.RevokeConsent, app.revoke_consent, "Revoke a consent"),
        (
            "/v1/consents/{id}/expire",
            c.ExpireConsent,
            app.expire_consent,
            "Record a consent's expiry",
        ),
        *participant_steps(app),
    ]
    for path, command, handler, summary in steps:
        create_routes(router, path, command, handler, summary)
    api.include_router(router)

    # -- cases and consents ------------------------------------------------------------
    @api.post("/v1/cases", status_code=201, response_model=ReceiptOut)
    def open_case(command: c.OpenCase, actor: ActorDep) -> ReceiptOut:
        return out(app.open_case(command, actor))

    @api.post("/v1/consents", status_code=201, response_model=ReceiptOut)
    def grant_consent(command: c.GrantConsent, actor: ActorDep) -> ReceiptOut:
        return out(app.grant_consent(command, actor))

    @api.post("/v1/disclosure-checks", response_model=DisclosureAnswer)
    def check_disclosure(question: c.DisclosureQuestion) -> DisclosureAnswer:
        consent = app.consent_for_disclosure(question)
        return DisclosureAnswer(
            allowed=consent is not None, consent_id=consent.id if consent else None
        )

    return api


def participant_steps(
    app: LeadApplication,
) -> list[tuple[str, type[c.Command], Callable[[UUID, Any, Actor], Receipt], str]]:
    """Participant commands, addressed by the person's id."""
    base = "/v1/participants/{id}"
    update = app.update_participant
    return [
        (
            f"{base}/case-manager",
            c.AssignCaseManager,
            app.assign_case_manager,
            "Assign or reassign the case manager",
        ),
        (f"{base}/goals", c.SetGoal, update, "Set a goal (the participant's)"),
        (f"{base}/goals/progress", c.RecordGoalProgress, update, "Record progress on a goal"),
        (f"{base}/goals/revision", c.ReviseGoal, update, "Revise a goal"),
        (f"{base}/contacts", c.RecordContact, update, "Record a contact"),
        (
            f"{base}/living-situation",
            c.RecordLivingSituation,
            update,
            "Record the living situation",
        ),
        (f"{base}/income", c.RecordIncome, update, "Record income"),
        (f"{base}/status", c.ChangeStatus, update, "Change engagement status"),
        (f"{base}/exit", c.ExitParticipant, app.exit_participant, "Record an exit"),
        (
            f"{base}/reengage",
            c.ReengageParticipant,
            app.reengage_participant,
            "Record re-engagement",
        ),
        (
            f"{base}/progress-summaries",
            c.ShareProgressSummary,
            app.share_progress_summary,
            "Share a progress summary with a partner (consent-checked)",
        ),
    ]
