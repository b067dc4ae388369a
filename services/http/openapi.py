"""What the OpenAPI document says beyond the routes: the areas its operations are tagged
with, the name each operation is given, the answers given before a handler runs (401,
429, 400/413/415, 503) and the headers on them."""

import copy
from importlib import metadata
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from services import access
from services.http.problems import PROBLEM_MEDIA_TYPE

PACKAGE = "lead-backend"


def api_version() -> str:
    """The installed package's version: the one version the API, `lead --version` and the
    changelog go by."""
    return metadata.version(PACKAGE)


# -- the areas: one tag per router module, listed at the top of the document ------------
OPERATIONS = "operations"
PRINCIPALS = "principals"
POLICY = "policy"
REFERRALS = "referrals"
CASELOADS = "caseloads"
PARTICIPANTS = "participants"
QUEUE = "queue"
AGENDA = "agenda"
AUDIT = "audit"
LIAISON = "liaison"
EVALUATION = "evaluation"
CASES = "cases"
CONSENTS = "consents"
SUBSCRIPTIONS = "subscriptions"

TAGS: list[dict[str, str]] = [
    {"name": OPERATIONS, "description": "Liveness, readiness, Prometheus metrics: no token"},
    {
        "name": PRINCIPALS,
        "description": "Who the caller is; the principals an administrator registers, "
        "rotates and revokes",
    },
    {"name": POLICY, "description": "The site policy: adopt a version, read every version"},
    {
        "name": REFERRALS,
        "description": "Refer, screen, approve or decline, hand off, schedule and complete "
        "intake (referrers see their own, status only)",
    },
    {"name": CASELOADS, "description": "Each case manager's caseload against target and cap"},
    {
        "name": PARTICIPANTS,
        "description": "A participant's case record, and each step of case management",
    },
    {"name": QUEUE, "description": "Open referrals in priority order, and places left"},
    {"name": AGENDA, "description": "What changed since the last OWG meeting"},
    {"name": AUDIT, "description": "Every event with its actor, every disclosure"},
    {
        "name": LIAISON,
        "description": "The liaison prosecutor's and public defender's case views, consent-gated",
    },
    {
        "name": EVALUATION,
        "description": "Evaluation metrics, de-identified, small cells suppressed",
    },
    {
        "name": CASES,
        "description": "Criminal cases: warrants, charging decisions, recommendations, "
        "hearings, dispositions",
    },
    {
        "name": CONSENTS,
        "description": "Consents to disclose (42 CFR Part 2), and whether a disclosure is "
        "allowed now",
    },
    {"name": SUBSCRIPTIONS, "description": "Server-Sent Events of a view's row changes"},
]
"""The tags of the document, in the order the areas are listed; every operation has one."""


def unnamed_operation(route: APIRoute) -> str:
    """`generate_unique_id_function` of the app: every route is given its `operation_id`
    by hand (client generators name their methods after it), so none is made up."""
    raise TypeError(
        f"{sorted(route.methods or ())} {route.path}: give the route an operation_id "
        "(camelCase, a verb first: createReferral) and tags"
    )


def _problem_answer(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _header(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "schema": schema}


RETRY_AFTER = {"Retry-After": _header("Seconds to wait before retrying", {"type": "integer"})}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": _header("The scheme to authenticate with: Bearer", {"type": "string"})
}
REPLAYED = {
    "Idempotent-Replayed": _header(
        "`true` on the stored answer to an earlier request with the same Idempotency-Key",
        {"type": "string", "enum": ["true"]},
    )
}

BODY_REFUSALS = {
    "400": _problem_answer("The body is not UTF-8, or Content-Length is malformed"),
    "413": _problem_answer("The body is larger than the API accepts"),
    "415": _problem_answer("The body is not JSON (application/json)"),
}
"""What `services.http.limits.BodyLimits` answers before the app reads a body."""


def document_answers(document: dict[str, Any]) -> dict[str, Any]:
    """Amend an OpenAPI document, in place, with what the routes alone do not say.

    A public endpoint (`services.access`) takes no token, so it never answers 401 or
    403; every other one may answer 401 (with `WWW-Authenticate`) and, after repeated
    failed authentication from the caller's address, 429 (`Retry-After`). A body may
    be refused before it is read (400, 413, 415: `services.http.limits`); a read at a
    `min_position` the view has not reached in time answers 503 (`Retry-After`), as
    `/readyz` does when not ready; a POST with an Idempotency-Key may be a replayed
    answer (`Idempotent-Replayed`). Reads never answer 409.
    """
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            rule = access.rule_for(method, path)
            if rule is not None and rule.public:
                operation["security"] = []
                for status in ("401", "403"):
                    responses.pop(status, None)
            else:
                if "401" in responses:
                    responses["401"].setdefault("headers", {}).update(WWW_AUTHENTICATE)
                responses.setdefault(
                    "429",
                    _problem_answer("Too many failed authentications from here", RETRY_AFTER),
                )
            parameters = {p.get("name") for p in operation.get("parameters", [])}
            if "requestBody" in operation:
                for status, answer in BODY_REFUSALS.items():
                    responses.setdefault(status, copy.deepcopy(answer))
            if "min_position" in parameters:
                responses.setdefault(
                    "503",
                    _problem_answer("The view has not reached min_position yet", RETRY_AFTER),
                )
            if "Idempotency-Key" in parameters:
                for answer in responses.values():
                    answer.setdefault("headers", {}).update(REPLAYED)
            if method.lower() == "get":
                responses.pop("409", None)
            for answer in responses.values():  # the route's `Any` or `dict` beside its model
                content = answer.get("content", {}).get("application/json", {})
                schema = content.get("schema", {})
                if "$ref" in schema:
                    content["schema"] = {"$ref": schema["$ref"]}
                elif "anyOf" in schema:
                    for inferred in ("type", "additionalProperties", "title"):
                        schema.pop(inferred, None)
    for key, schema in document.get("components", {}).get("schemas", {}).items():
        # A model both sent and answered has two schemas (`X-Input`, `X-Output`: the one
        # sent states what is accepted), both titled X: generators want one name each.
        if key.endswith("-Output"):
            schema["title"] = key.removesuffix("-Output") + "Output"
    ready = document.get("paths", {}).get("/readyz", {}).get("get")
    if ready is not None:
        answers = ready["responses"]
        answers["503"] = {**copy.deepcopy(answers["200"]), "description": "Not ready"}
    return document


def document_answers_of(api: FastAPI) -> None:
    """`document_answers` on `api`'s document when it is made (routes added later too)."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = document_answers(generate())
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
