"""Live subscriptions: Server-Sent Events of a view's row changes."""

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.responses import StreamingResponse

from events.base import Role, a_role
from events.referral import Pathway
from events.topics import projection_topic
from projections import referrals as referral_queries
from services import access
from services.http import subscriptions
from services.http.openapi import SUBSCRIPTIONS
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    ActorDep,
)

SUBSCRIBABLE = ("referrals", "queue", "caseloads", "agenda")


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """GET /v1/subscriptions/{projection}."""
    opts = ctx.opts
    record_staff_access = ctx.record_staff_access
    referral_answer = ctx.referral_answer

    @router.get(
        "/v1/subscriptions/{projection}",
        operation_id="subscribeToView",
        tags=[SUBSCRIPTIONS],
        summary="Server-Sent Events of a view's row changes; resumable with Last-Event-ID",
        response_class=StreamingResponse,  # it answers a stream, never JSON, when it answers 200
        responses={
            200: {
                "description": "One `data:` line of JSON per row change, `id:` to resume at",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        },
    )
    async def subscribe(
        projection: str,
        actor: ActorDep,
        start: str = Query("beginning", pattern="^(beginning|now)$"),
        pathway: Pathway | None = None,
        last_event_id: Annotated[
            str | None,
            Header(
                alias="Last-Event-ID",
                max_length=subscriptions.MAX_CURSOR_CHARS,
                pattern=subscriptions.CURSOR_PATTERN,
                description="Resume after this event: the `id:` of the last event received "
                f"({subscriptions.CURSOR_FORM})",
            ),
        ] = None,
    ) -> Any:
        if projection not in SUBSCRIBABLE or opts.bootstrap_servers is None:
            raise HTTPException(404, f"no subscription {projection!r}; known: {SUBSCRIBABLE}")
        staff = access.sees_all_referrals(actor)
        if not staff and projection != "referrals":
            raise HTTPException(403, f"{a_role(actor.role)} may not do this")
        try:
            subscriptions.decode_cursor(last_event_id or "")
        except ValueError as exc:
            if last_event_id:
                raise HTTPException(422, str(exc)) from None

        async def visible(change: dict[str, Any]) -> dict[str, Any] | None:
            values = change.get("values") or {}
            key = change.get("key") or {}
            if pathway is not None and values.get("pathway") not in (None, pathway.value):
                return None
            if projection == "caseloads" and actor.role is Role.CASE_MANAGER:
                manager = values.get("case_manager", key.get("case_manager"))
                if manager != actor.principal:
                    return None
            if projection == "referrals" and not staff:
                if values.get("referrer_principal") != actor.principal:
                    return None
                view = await asyncio.to_thread(
                    referral_answer,
                    actor,
                    referral_queries.row_to_referral(values),
                    "sse:/v1/subscriptions/referrals",
                )
                return {**change, "values": view}
            person = values.get("person_id")
            if person:
                await asyncio.to_thread(
                    record_staff_access,
                    actor,
                    [UUID(str(person))],
                    projection,
                    f"sse:/v1/subscriptions/{projection}",
                    f"{projection} subscription",
                )
            return change

        return subscriptions.sse_response(
            subscriptions.stream_changes(
                bootstrap_servers=opts.bootstrap_servers,
                topic=projection_topic(projection),
                visible=visible,
                last_event_id=last_event_id,
                start="now" if start == "now" else "beginning",
            )
        )
