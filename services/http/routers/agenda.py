"""The OWG agenda: what changed since the last meeting."""

from typing import Any

from fastapi import APIRouter, HTTPException

from projections.agenda import queries as agenda_queries
from services.http import answers
from services.http.openapi import AGENDA
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    ActorDep,
    MinPosition,
    QueryTime,
)


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """GET /v1/owg-agenda."""
    fresh = ctx.fresh
    read = ctx.read
    record_staff_access = ctx.record_staff_access

    @router.get(
        "/v1/owg-agenda",
        operation_id="getOwgAgenda",
        tags=[AGENDA],
        summary="What changed since the last OWG meeting",
        responses={200: {"model": answers.Agenda}},
    )
    def owg_agenda(
        actor: ActorDep,
        since: QueryTime,
        until: QueryTime | None = None,
        min_position: MinPosition = None,
    ) -> Any:
        fresh(["agenda"], min_position)
        try:
            sections = read(
                agenda_queries.agenda, since=since, until=until or ctx.application.clock.now()
            )
        except ValueError as exc:
            raise HTTPException(422, f"query parameter since: {exc}") from None
        people = [
            item["person_id"]
            for items in sections.values()
            for item in items
            if item.get("person_id")
        ]
        record_staff_access(actor, people, "agenda", "api:/v1/owg-agenda", "OWG agenda")
        return sections
