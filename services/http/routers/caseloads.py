"""Caseloads: each case manager's size against target, and one caseload's members."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from events.base import Role
from events.text import Text
from projections import caseloads as caseload_queries
from services import access
from services.http import answers
from services.http.openapi import CASELOADS
from services.http.pagination import DEFAULT_LIMIT
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    ActorDep,
    Cursor,
    Limit,
    MinPosition,
    Name,
)


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """GET /v1/caseloads, GET /v1/caseloads/{case_manager}."""
    fresh = ctx.fresh
    record_staff_access = ctx.record_staff_access
    not_found = ctx.not_found

    @router.get(
        "/v1/caseloads",
        operation_id="listCaseloads",
        tags=[CASELOADS],
        summary="Caseload sizes against target, warning and cap",
        responses={200: {"model": answers.Page[answers.CaseloadSize]}},
    )
    def caseloads(
        actor: ActorDep,
        case_manager: Annotated[Text | None, Query(max_length=200)] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
        min_position: MinPosition = None,
    ) -> Any:
        """Each case manager's caseload size; a case manager sees their own."""
        fresh(["caseloads"], min_position)
        if actor.role is Role.CASE_MANAGER:
            if case_manager not in (None, actor.principal):
                raise not_found("caseload")
            case_manager = actor.principal
        return ctx.keyset(
            caseload_queries.list_caseloads,
            lambda r: (r["case_manager"],),
            1,
            cursor,
            limit,
            now=ctx.application.clock.now(),
            case_manager=case_manager,
        )

    @router.get(
        "/v1/caseloads/{case_manager}",
        operation_id="listCaseload",
        tags=[CASELOADS],
        summary="One caseload, most in need first",
        responses={200: {"model": answers.Page[answers.CaseloadMember]}},
    )
    def caseload(
        case_manager: Name,
        actor: ActorDep,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
        min_position: MinPosition = None,
    ) -> Any:
        """Last contact, days since, contacts in 30 days, open goals, in the wind."""
        if not access.reads_caseload(actor, case_manager):
            raise not_found("caseload")
        fresh(["caseloads"], min_position)

        def key(r: dict[str, Any]) -> tuple[Any, ...]:
            seen = r["last_contact_at"]
            return (seen is not None, seen, r["enrolled_on"], r["person_id"])

        result = ctx.keyset(
            caseload_queries.list_caseload,
            key,
            4,
            cursor,
            limit,
            case_manager,
            now=ctx.application.clock.now(),
        )
        record_staff_access(
            actor,
            (r["person_id"] for r in result["items"]),
            "caseload",
            "api:/v1/caseloads/{case_manager}",
            "caseload",
        )
        return result
