"""Referrals: refer, list and read them (a referrer sees their own, status only)."""

from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query

from events.base import Role, a_role
from events.consent import InformationKind
from events.referral import Pathway
from projections import referrals as referral_queries
from projections.referrals import ReferralStatus
from services import access
from services import commands as c
from services.http import answers
from services.http.openapi import REFERRALS
from services.http.pagination import DEFAULT_LIMIT
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    RECORDS,
    ActorDep,
    Cursor,
    Limit,
    MinPosition,
    ReceiptOut,
    out,
)


class VisibleStatus(StrEnum):
    """A referral's status as its reader sees it: a referrer without a consent naming them
    sees "closed" where the program sees enrolled or withdrawn."""

    RECEIVED = ReferralStatus.RECEIVED.value
    ELIGIBLE = ReferralStatus.ELIGIBLE.value
    EXCLUDED = ReferralStatus.EXCLUDED.value
    APPROVED = ReferralStatus.APPROVED.value
    DECLINED = ReferralStatus.DECLINED.value
    INTAKE_SCHEDULED = ReferralStatus.INTAKE_SCHEDULED.value
    ENROLLED = ReferralStatus.ENROLLED.value
    LAPSED = ReferralStatus.LAPSED.value
    WITHDRAWN = ReferralStatus.WITHDRAWN.value
    CLOSED = "closed"


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """POST and GET /v1/referrals, GET /v1/referrals/{referral_id}."""
    app = ctx.application
    fresh = ctx.fresh
    read = ctx.read
    paged = ctx.paged
    record_staff_access = ctx.record_staff_access
    not_found = ctx.not_found
    refused = ctx.refused
    referrer_views = ctx.referrer_views
    referrer_answers = ctx.referrer_answers
    referral_answer = ctx.referral_answer

    @router.post(
        "/v1/referrals",
        operation_id="createReferral",
        tags=[REFERRALS],
        status_code=201,
        response_model=ReceiptOut,
        summary="Refer",
        dependencies=RECORDS,
    )
    def receive_referral(command: c.ReceiveReferral, actor: ActorDep) -> ReceiptOut:
        if actor.role in (Role.OFFICER, Role.COMMUNITY_PARTNER):
            ref = command.referrer
            if (ref.principal, ref.organisation) != (actor.principal, actor.organisation):
                raise HTTPException(
                    422,
                    f"body.referrer: must be you ({actor.principal} of {actor.organisation}) "
                    f"when you refer as {a_role(actor.role)}",
                )
        return out(app.receive_referral(command, actor))

    @router.get(
        "/v1/referrals",
        operation_id="listReferrals",
        tags=[REFERRALS],
        summary="Referrals (referrers: their own, status only)",
        responses={200: {"model": answers.Page[answers.ReferralView | answers.ReferrerView]}},
    )
    def list_referrals(
        actor: ActorDep,
        status: Annotated[
            VisibleStatus | None,
            Query(description="Only referrals with this status, as the caller sees it"),
        ] = None,
        pathway: Pathway | None = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
        min_position: MinPosition = None,
    ) -> Any:
        """Filters test what the caller is shown: a referrer's "closed" is the program's
        enrolled or withdrawn, and filtering by those would tell what the view hides."""
        fresh(["referrals"], min_position)
        channel = "api:/v1/referrals"

        def key(r: dict[str, Any]) -> tuple[Any, ...]:
            return (r["received_at"], r["referral_id"])

        staff = access.sees_all_referrals(actor)
        filters = {
            "referrer": None if staff else actor.principal,
            "status": status.value if staff and status else None,
            "pathway": pathway.value if pathway else None,
        }
        if staff or status is None:  # the page sought in SQL
            result = ctx.keyset(referral_queries.list_referrals, key, 2, cursor, limit, **filters)
            if staff:
                people = (r["person_id"] for r in result["items"])
                record_staff_access(actor, people, "referral", channel, "referral")
            else:  # nothing to filter on: only the page's consents are looked up
                result["items"] = referrer_answers(
                    actor, referrer_views(actor, result["items"]), channel
                )
            return result
        # A referrer's status filter tests what consent lets them see: their own
        # referrals are read whole, filtered as seen, then cut.
        rows = read(referral_queries.list_referrals, **filters)
        views = [v for v in referrer_views(actor, rows) if v[1]["status"] == status.value]
        result = paged(views, lambda v: key(v[0]), cursor, limit)
        result["items"] = referrer_answers(actor, result["items"], channel)
        return result

    @router.get(
        "/v1/referrals/{referral_id}",
        operation_id="getReferral",
        tags=[REFERRALS],
        summary="One referral (referrers: status only)",
        responses={200: {"model": answers.ReferralView | answers.ReferrerView}},
    )
    def read_referral(
        referral_id: UUID, actor: ActorDep, min_position: MinPosition = None
    ) -> dict[str, Any]:
        fresh(["referrals"], min_position)
        referral = read(referral_queries.get_referral, referral_id)
        if referral is None:
            raise not_found("referral (yet)")
        if not access.own_referral(actor, referral["referrer"]["principal"]):
            channel = "api:/v1/referrals/{referral_id}"
            refused(actor, referral["person_id"], InformationKind.PROGRAM_STATUS.value, channel)
            raise not_found("referral (yet)")
        return referral_answer(actor, referral, "api:/v1/referrals/{referral_id}")
