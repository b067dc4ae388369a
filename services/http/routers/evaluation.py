"""Evaluation metrics, de-identified, small cells suppressed."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from events.text import Text
from projections.evaluation import queries as evaluation
from services.http import answers
from services.http.openapi import EVALUATION
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    MinPosition,
)


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """GET /v1/metrics/referrals-by-race-ethnicity, GET /v1/metrics/{name}."""
    opts = ctx.opts
    fresh = ctx.fresh
    read = ctx.read
    metrics: dict[str, Callable[..., Any]] = {
        "referrals-by-pathway-and-month": evaluation.referrals_by_pathway_and_month,
        "net-widening": evaluation.net_widening,
        "time-to-intake": evaluation.time_to_intake,
        "lapses": evaluation.lapses,
        "contacts-per-participant-month": evaluation.contacts_per_participant_month,
        "housing-transitions": evaluation.housing_transitions,
        "income-transitions": evaluation.income_transitions,
        "filings-before-after-enrollment": evaluation.filings_before_after_enrollment,
    }

    @router.get(
        "/v1/metrics/referrals-by-race-ethnicity",
        operation_id="getReferralsByRaceEthnicity",
        tags=[EVALUATION],
        summary="Equity: referrals by race",
        responses={200: {"model": answers.Equity}},
    )
    def equity(min_position: MinPosition = None) -> Any:
        """Referrals by race and ethnicity beside the site's baseline of eligible arrests."""
        fresh(["evaluation"], min_position)
        return read(
            evaluation.referrals_by_race_ethnicity,
            opts.equity_baseline,
            suppress_below=opts.suppress_below,
        )

    @router.get(
        "/v1/metrics/{name}",
        operation_id="getMetric",
        tags=[EVALUATION],
        summary="An evaluation metric, de-identified",
        responses={200: {"model": answers.Metric}},
    )
    def metric(
        name: Annotated[Text, Path(max_length=100)], min_position: MinPosition = None
    ) -> Any:
        if name not in metrics:
            known = ", ".join(sorted([*metrics, "referrals-by-race-ethnicity"]))
            raise HTTPException(404, f"no metric {name!r}; known: {known}")
        fresh(["evaluation"], min_position)
        return read(metrics[name], suppress_below=opts.suppress_below)
