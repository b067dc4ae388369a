"""The HTTP API. Handlers only translate: build a command, call the service, shape the answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ValidationError

from events.base import Actor, Role
from projections.referrals import get_referral
from services.application import LeadApplication
from services.commands import ReceiveReferral
from services.errors import ConcurrencyError, DomainError


class ReceiptOut(BaseModel):
    id: UUID
    person_id: UUID | None
    position: int


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


def create_api(
    application: LeadApplication,
    read_pool: ConnectionPool[Any],
    lifespan: Callable[..., Any] | None = None,
) -> FastAPI:
    api = FastAPI(
        title="LEAD coordination backend",
        version="0.1.0",
        description="System of record for a LEAD site: referrals, contacts, cases, consents.",
        lifespan=lifespan,
    )

    @api.exception_handler(DomainError)
    async def _domain_error(_: Any, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @api.exception_handler(ConcurrencyError)
    async def _conflict(_: Any, exc: ConcurrencyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/v1/referrals", status_code=201, response_model=ReceiptOut)
    def receive_referral(
        command: ReceiveReferral, actor: Annotated[Actor, Depends(actor_from_headers)]
    ) -> ReceiptOut:
        receipt = application.receive_referral(command, actor)
        return ReceiptOut(id=receipt.id, person_id=receipt.person_id, position=receipt.position)

    @api.get("/v1/referrals/{referral_id}")
    def read_referral(referral_id: UUID) -> dict[str, Any]:
        with read_pool.connection() as conn:
            conn.row_factory = dict_row
            referral = get_referral(conn, referral_id)
        if referral is None:
            raise HTTPException(404, detail=f"no referral {referral_id} (yet)")
        return referral

    return api
