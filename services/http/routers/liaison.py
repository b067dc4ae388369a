"""The liaison prosecutor's and public defender's case views, consent-gated."""

from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from psycopg.rows import dict_row

from events.base import Actor
from events.participant import ParticipantStatus
from services import reads
from services.http import answers
from services.http.openapi import LIAISON
from services.http.pagination import DEFAULT_LIMIT
from services.http.routers.context import ApiContext, Withheld
from services.http.routers.params import (
    ActorDep,
    Cursor,
    Limit,
    MinPosition,
)


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """GET /v1/liaison/cases, GET /v1/liaison/cases/{person_id}."""
    opts = ctx.opts
    read_pool = ctx.read_pool
    fresh = ctx.fresh
    disclose = ctx.disclose
    paged = ctx.paged
    record = ctx.record
    not_found = ctx.not_found

    def recorded(
        view: list[dict[str, Any]], actor: Actor, channel: str, withheld: Withheld
    ) -> list[dict[str, Any]]:
        record(
            reads.liaison_disclosures(
                view, actor, source=opts.source, channel=channel, withheld=withheld
            )
        )
        return view

    @router.get(
        "/v1/liaison/cases",
        operation_id="listLiaisonCases",
        tags=[LIAISON],
        summary="Cases of people whose consent covers the caller now",
        responses={200: {"model": answers.Page[answers.LiaisonView]}},
    )
    def liaison_cases(
        actor: ActorDep,
        status: Annotated[
            ParticipantStatus | None,
            Query(
                description="Only people with this program status (among those whose "
                "program status the caller may see)"
            ),
        ] = None,
        case_status: Annotated[
            CaseStatus | None,
            Query(description="Only cases still open (no disposition yet), or only closed ones"),
        ] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
        min_position: MinPosition = None,
    ) -> Any:
        """Never contact notes, whatever the consent. Filters test only what the caller is
        shown: a program status withheld for want of consent matches no `status`."""
        fresh(["liaison"], min_position)
        withheld: Withheld = {}
        view: list[dict[str, Any]] = disclose(reads.liaison_case_view, actor, withheld=withheld)
        if status is not None:
            view = [e for e in view if (e.get("program") or {}).get("status") == status.value]
        if case_status is not None:
            closed = case_status is CaseStatus.CLOSED
            view = [
                {**e, "cases": [k for k in e.get("cases", []) if k["closed"] is closed]}
                for e in view
            ]
            view = [e for e in view if e["cases"]]
        result = paged(view, lambda e: (e["person_id"],), cursor, limit)
        recorded(result["items"], actor, "api:/v1/liaison/cases", withheld)
        return result

    @router.get(
        "/v1/liaison/cases/{person_id}",
        operation_id="getLiaisonCase",
        tags=[LIAISON],
        summary="One person's case view, if consented",
        responses={200: {"model": answers.LiaisonView}},
    )
    def liaison_person(
        person_id: UUID, actor: ActorDep, min_position: MinPosition = None
    ) -> dict[str, Any]:
        fresh(["liaison"], min_position)
        withheld: Withheld = {}
        found: list[dict[str, Any]] = disclose(
            reads.liaison_case_view, actor, person_id, withheld=withheld
        )
        if not found:
            channel = "api:/v1/liaison/cases/{person_id}"
            with read_pool.connection() as conn:
                conn.row_factory = dict_row
                refused = reads.liaison_withheld(
                    conn, actor, person_id, source=opts.source, channel=channel
                )
            record(refused)
            raise not_found("case view for that person")
        return recorded(found, actor, "api:/v1/liaison/cases/{person_id}", withheld)[0]
