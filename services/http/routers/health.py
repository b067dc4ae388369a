"""The public health endpoints: the process is up, its dependencies are ready."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.http import answers
from services.http.openapi import OPERATIONS
from services.http.routers.context import ApiContext


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """GET /healthz, GET /readyz."""
    readiness = ctx.readiness

    @router.get(
        "/healthz",
        operation_id="getHealth",
        tags=[OPERATIONS],
        summary="The API process is up",
        response_model=answers.Health,
    )
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        operation_id="getReadiness",
        tags=[OPERATIONS],
        summary="PostgreSQL, Kafka and the read side are ready",
        responses={200: {"model": answers.Readiness}},
    )
    def readyz() -> JSONResponse:
        checks = readiness() if readiness else {"ready": True}
        return JSONResponse(checks, status_code=200 if checks.get("ready") else 503)
