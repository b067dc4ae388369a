"""The referral queue: open referrals in priority order, and places left."""

from typing import Any

from fastapi import APIRouter

from events.referral import Pathway
from projections import queue as queue_queries
from services.http import answers
from services.http.openapi import QUEUE
from services.http.pagination import DEFAULT_LIMIT
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    ActorDep,
    Cursor,
    Limit,
    MinPosition,
)


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """GET /v1/queue."""
    app = ctx.application
    fresh = ctx.fresh
    record_staff_access = ctx.record_staff_access

    @router.get(
        "/v1/queue",
        operation_id="listQueue",
        tags=[QUEUE],
        summary="Open referrals in priority order, and places left",
        responses={200: {"model": answers.Queue}},
    )
    def queue(
        actor: ActorDep,
        pathway: Pathway | None = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
        min_position: MinPosition = None,
    ) -> dict[str, Any]:
        fresh(["queue"], min_position)
        result: dict[str, Any] = ctx.keyset(
            queue_queries.list_queue,
            queue_queries.priority,
            5,
            cursor,
            limit,
            today=app.clock.today(),
            pathway=pathway.value if pathway else None,
        )
        record_staff_access(
            actor, (e["person_id"] for e in result["items"]), "referral", "api:/v1/queue", "queue"
        )
        return {"capacity_left": app.capacity_left(), **result}
