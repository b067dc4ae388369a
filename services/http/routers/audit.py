"""The audit trail: every event with its actor, every disclosure."""

from typing import Any
from uuid import UUID

from fastapi import APIRouter

from projections import audit as audit_queries
from services import reads
from services.http import answers
from services.http.openapi import AUDIT
from services.http.pagination import DEFAULT_LIMIT
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    ActorDep,
    Limit,
    MinPosition,
    QueryTime,
)


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """GET /v1/audit/trail."""
    opts = ctx.opts
    fresh = ctx.fresh
    read = ctx.read
    record = ctx.record

    @router.get(
        "/v1/audit/trail",
        operation_id="getAuditTrail",
        tags=[AUDIT],
        summary="Every event with its actor, every disclosure",
        responses={200: {"model": answers.Trail}},
    )
    def audit_trail(
        actor: ActorDep,
        person_id: UUID | None = None,
        since: QueryTime | None = None,
        limit: Limit = DEFAULT_LIMIT,
        min_position: MinPosition = None,
    ) -> Any:
        """Page on with `since` = the last item's time."""
        fresh(["audit"], min_position)
        trail = read(audit_queries.trail, person_id=person_id, since=since, limit=limit)
        people = [
            row["person_id"]
            for rows in trail.values()
            for row in rows
            if row.get("person_id") is not None
        ]
        record(
            reads.access_records(
                actor,
                [(p, "audit_trail", None, "audit") for p in dict.fromkeys(people)],
                source=opts.source,
                channel="api:/v1/audit/trail",
                purpose=f"audit by {actor.principal}",
            )
        )
        return trail
