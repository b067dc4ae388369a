"""Open a case."""

from fastapi import APIRouter

from services import commands as c
from services.http.openapi import CASES
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    RECORDS,
    ActorDep,
    ReceiptOut,
    out,
)


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """POST /v1/cases."""
    app = ctx.application

    @router.post(
        "/v1/cases",
        operation_id="openCase",
        tags=[CASES],
        status_code=201,
        response_model=ReceiptOut,
        summary="Open a case",
        dependencies=RECORDS,
    )
    def open_case(command: c.OpenCase, actor: ActorDep) -> ReceiptOut:
        return out(app.open_case(command, actor))
