"""Consents: grant one, and ask whether a disclosure is allowed now."""

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from services import commands as c
from services.http.openapi import CONSENTS
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    MAY_REPLAY,
    RECORDS,
    ActorDep,
    ReceiptOut,
    out,
)


class DisclosureAnswer(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [{"allowed": True, "consent_id": "0d9f6c1a-2b3c-4d5e-8f90-1a2b3c4d5e6f"}]
        }
    }
    allowed: bool
    consent_id: UUID | None


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """POST /v1/consents, POST /v1/disclosure-checks."""
    app = ctx.application

    @router.post(
        "/v1/consents",
        operation_id="grantConsent",
        tags=[CONSENTS],
        status_code=201,
        response_model=ReceiptOut,
        summary="Consent",
        dependencies=RECORDS,
    )
    def grant_consent(command: c.GrantConsent, actor: ActorDep) -> ReceiptOut:
        return out(app.grant_consent(command, actor))

    @router.post(
        "/v1/disclosure-checks",
        operation_id="checkDisclosure",
        tags=[CONSENTS],
        response_model=DisclosureAnswer,
        dependencies=MAY_REPLAY,
        summary="May this recipient receive this kind of information about this person now?",
    )
    def check_disclosure(question: c.DisclosureQuestion) -> DisclosureAnswer:
        consent = app.consent_for_disclosure(question)
        return DisclosureAnswer(
            allowed=consent is not None, consent_id=consent.id if consent else None
        )
