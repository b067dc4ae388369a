"""Error answers as RFC 9457 problem details (`application/problem+json`).

`install_problem_handlers(api)` makes every error the API gives a problem: a stable
`type` URI, a `title`, the `status`, a `detail` sentence meant for the person who
asked, and the `instance` (the request path). Invalid input also lists each bad
field in `errors`, with the field's dotted path, what was wrong and, where known,
what is accepted. Routes can declare these answers in the OpenAPI document with
``responses=PROBLEM_RESPONSES``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from events.text import ACCEPTED_TEXT, TEXT_ERROR
from services.errors import ConcurrencyError, DomainError, NotFoundError

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

VALIDATION = "urn:lead:problem:validation"
CONFLICT = "urn:lead:problem:conflict"
NOT_FOUND = "urn:lead:problem:not-found"
UNAUTHORIZED = "urn:lead:problem:unauthorized"
FORBIDDEN = "urn:lead:problem:forbidden"
RULE_BROKEN = "urn:lead:problem:rule-broken"
INTERNAL = "urn:lead:problem:internal"
BLANK = "about:blank"

TITLES: dict[str, str] = {
    VALIDATION: "Invalid input",
    CONFLICT: "Conflict",
    NOT_FOUND: "Not found",
    UNAUTHORIZED: "Unauthorized",
    FORBIDDEN: "Forbidden",
    RULE_BROKEN: "Rule broken",
    INTERNAL: "Internal server error",
}

TYPE_BY_STATUS: dict[int, str] = {
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    409: CONFLICT,
    422: VALIDATION,
    500: INTERNAL,
}

INTERNAL_DETAIL = (
    "Something went wrong on our side and the request was not completed. "
    "The error has been logged; try again, and tell the site's administrator if it persists."
)
RETRY = "reload it and retry"


class FieldProblem(BaseModel):
    """One invalid field."""

    field: str = Field(
        description="Where the bad value is, its location joined with dots.",
        examples=["body.person.birth_date"],
    )
    message: str = Field(description="What is wrong with it.")
    input: Any = Field(
        None, description="The value that was given, when there was one (absent if missing)."
    )
    accepted: str | None = Field(
        None,
        description="What would be accepted there, when it is known.",
        examples=["'arrest_diversion', 'social_contact' or 'community'", "at least 0"],
    )


class Problem(BaseModel):
    """An error answer (RFC 9457). Members beyond these may be added."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": VALIDATION,
                    "title": "Invalid input",
                    "status": 422,
                    "detail": "The request has an invalid field: body.pathway "
                    "(Input should be 'arrest_diversion', 'social_contact' or 'community').",
                    "instance": "/v1/referrals",
                    "errors": [
                        {
                            "field": "body.pathway",
                            "message": "Input should be 'arrest_diversion', "
                            "'social_contact' or 'community'",
                            "input": "walk_in",
                            "accepted": "'arrest_diversion', 'social_contact' or 'community'",
                        }
                    ],
                },
                {
                    "type": RULE_BROKEN,
                    "title": "Rule broken",
                    "status": 409,
                    "detail": "the case is closed",
                    "instance": "/v1/cases/0b8e4c1e-5a43-4f5e-9a7e-2f1d6c3b9a10/hearings",
                    "error": "CaseClosedError",
                },
            ]
        },
    )

    type: str = Field(BLANK, description="A URI naming the kind of problem.", examples=[VALIDATION])
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.", ge=100, le=599)
    detail: str | None = Field(None, description="What went wrong this time, in a sentence.")
    instance: str | None = Field(None, description="The request path.")
    error: str | None = Field(
        None, description="The name of the broken rule or error, when there is one."
    )
    errors: list[FieldProblem] | None = Field(
        None, description="Invalid input: each field, what is wrong and what is accepted."
    )


def _problem_content(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem_content("Not authenticated"),
    403: _problem_content("Not allowed for the caller"),
    404: _problem_content("Nothing with that id, or nothing the caller may know of"),
    409: _problem_content("A rule was broken, or someone else changed the record first"),
    422: _problem_content("Invalid input: each bad field is named with what is accepted"),
}
"""For a route's ``responses=``; the app needs `install_problem_handlers` for the schema."""


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        # A problem may echo what was sent, and JSON can carry half a surrogate pair
        # ("\ud800") that UTF-8 cannot: it goes back as that JSON escape, not as a 500.
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


def problem_response(
    request: Request,
    status: int,
    detail: str | None,
    *,
    type_: str | None = None,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """A problem answer; `type_` defaults by status, `title` by type."""
    kind = type_ or TYPE_BY_STATUS.get(status, BLANK)
    if title is None:
        title = TITLES.get(kind) or _phrase(status)
    body: dict[str, Any] = {"type": kind, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    body["instance"] = request.url.path
    body.update({k: v for k, v in extensions.items() if v is not None})
    return ProblemResponse(body, status_code=status, headers=dict(headers) if headers else None)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# -- invalid input ----------------------------------------------------------------------
# What is accepted, from the error's context.
_FROM_CONTEXT: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "enum": lambda ctx: str(ctx["expected"]),
    "literal_error": lambda ctx: str(ctx["expected"]),
    "union_tag_invalid": lambda ctx: str(ctx["expected_tags"]),
    "greater_than_equal": lambda ctx: f"at least {ctx['ge']}",
    "greater_than": lambda ctx: f"greater than {ctx['gt']}",
    "less_than_equal": lambda ctx: f"at most {ctx['le']}",
    "less_than": lambda ctx: f"less than {ctx['lt']}",
    "multiple_of": lambda ctx: f"a multiple of {ctx['multiple_of']}",
    "string_too_short": lambda ctx: f"at least {_count(ctx['min_length'], 'character')}",
    "string_too_long": lambda ctx: f"at most {_count(ctx['max_length'], 'character')}",
    "too_short": lambda ctx: f"at least {_count(ctx['min_length'], 'item')}",
    "too_long": lambda ctx: f"at most {_count(ctx['max_length'], 'item')}",
    "string_pattern_mismatch": lambda ctx: f"text matching {ctx['pattern']}",
}

# What is accepted, when the kind of error alone says it.
_BY_TYPE: dict[str, str] = {
    "date_type": "a date as YYYY-MM-DD, e.g. 2026-03-02",
    "date_parsing": "a date as YYYY-MM-DD, e.g. 2026-03-02",
    "date_from_datetime_parsing": "a date as YYYY-MM-DD, e.g. 2026-03-02",
    "date_from_datetime_inexact": "a date as YYYY-MM-DD, e.g. 2026-03-02",
    "datetime_type": "a date and time with a UTC offset, e.g. 2026-03-02T09:30:00-08:00",
    "datetime_parsing": "a date and time with a UTC offset, e.g. 2026-03-02T09:30:00-08:00",
    "datetime_from_date_parsing": (
        "a date and time with a UTC offset, e.g. 2026-03-02T09:30:00-08:00"
    ),
    "timezone_aware": "a date and time with a UTC offset, e.g. 2026-03-02T09:30:00-08:00",
    "uuid_type": "a UUID, e.g. 0b8e4c1e-5a43-4f5e-9a7e-2f1d6c3b9a10",
    "uuid_parsing": "a UUID, e.g. 0b8e4c1e-5a43-4f5e-9a7e-2f1d6c3b9a10",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "json_invalid": "a well-formed JSON document",
    TEXT_ERROR: ACCEPTED_TEXT,
    "finite_number": "a finite number (not infinity or NaN)",
}


def _count(n: Any, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def accepted(error: Mapping[str, Any]) -> str | None:
    """What would be accepted instead, from a pydantic error; None when unknown."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx")
    if kind in _FROM_CONTEXT and isinstance(ctx, Mapping):
        try:
            return _FROM_CONTEXT[kind](ctx)
        except KeyError:
            pass
    return _BY_TYPE.get(kind)


def _showable(text: str) -> str:
    """`text` with what UTF-8 cannot carry (half a surrogate pair, which a JSON escape
    can make, in a key say) written as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def field_path(loc: Iterable[Any]) -> str:
    """The error's location joined with dots, nothing dropped: "body.person.birth_date"."""
    return _showable(".".join(str(part) for part in loc))


def field_problem(error: Mapping[str, Any]) -> FieldProblem:
    """One pydantic error as a `FieldProblem`; the input only when given and JSON-safe."""
    values: dict[str, Any] = {
        "field": field_path(error.get("loc", ())),
        "message": _showable(str(error.get("msg", "invalid value"))),
    }
    if "input" in error and error.get("type") != "missing":
        with contextlib.suppress(Exception):  # an input we cannot show is left out
            shown = jsonable_encoder(error["input"])
            json.dumps(shown, ensure_ascii=False).encode("utf-8")  # raises if it cannot be sent
            values["input"] = shown
    if (what := accepted(error)) is not None:
        values["accepted"] = what
    return FieldProblem(**values)


def field_problems(errors: Sequence[Any]) -> list[FieldProblem]:
    return [field_problem(error) for error in errors if isinstance(error, Mapping)]


def validation_detail(problems: Sequence[FieldProblem]) -> str:
    """One sentence naming the bad fields."""
    if not problems:
        return "The request is not valid."
    if len(problems) == 1:
        [only] = problems
        return f"The request has an invalid field: {only.field} ({only.message})."
    fields = list(dict.fromkeys(p.field for p in problems))
    return f"The request has {len(problems)} errors, in {', '.join(fields)}: see errors."


def _dumped(problems: Sequence[FieldProblem]) -> list[dict[str, Any]]:
    return [p.model_dump(mode="json", exclude_unset=True) for p in problems]


NAMED_FIELD = re.compile(
    r"^(?P<field>(?:body|query|path|header)(?: parameter)?[\w.\[\] -]*?): (?P<message>.+)$",
    re.DOTALL,
)
"""A refusal's text that starts with the field it is about ("query parameter cursor: ...")."""


def _looks_like_errors(detail: Any) -> bool:
    return (
        isinstance(detail, list)
        and bool(detail)
        and all(isinstance(e, Mapping) and "loc" in e and "msg" in e for e in detail)
    )


# -- handlers ---------------------------------------------------------------------------
async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = field_problems(exc.errors())
    return problem_response(
        request, 422, validation_detail(problems), type_=VALIDATION, errors=_dumped(problems)
    )


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    headers = exc.headers
    if status in {204, 304}:  # no body allowed
        return Response(status_code=status, headers=headers)
    detail: Any = exc.detail
    if _looks_like_errors(detail):
        problems = field_problems(detail)
        return problem_response(
            request,
            status,
            validation_detail(problems),
            type_=VALIDATION if status == 422 else None,
            headers=headers,
            errors=_dumped(problems),
        )
    if detail is None:
        text = None
    elif isinstance(detail, str):
        text = detail
        named = NAMED_FIELD.match(detail)
        if status == 422 and named:  # "body.referrer: must be you": the field, listed too
            problem = FieldProblem(field=named["field"], message=named["message"])
            return problem_response(
                request, 422, detail, headers=headers, errors=_dumped([problem])
            )
    else:
        text = str(jsonable_encoder(detail))
    return problem_response(request, status, text, headers=headers)


async def _rule_broken(request: Request, exc: Exception) -> Response:
    return problem_response(request, 409, str(exc), type_=RULE_BROKEN, error=type(exc).__name__)


async def _concurrency(request: Request, exc: Exception) -> Response:
    message = str(exc) or "the record was changed by someone else at the same time"
    if RETRY not in message:
        message = f"{message}; {RETRY}"
    return problem_response(request, 409, message, type_=CONFLICT, error=type(exc).__name__)


async def _not_found(request: Request, exc: Exception) -> Response:
    return problem_response(
        request, 404, str(exc) or "not found", type_=NOT_FOUND, error=type(exc).__name__
    )


async def _internal(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(request, 500, INTERNAL_DETAIL, type_=INTERNAL)


# -- the OpenAPI document ---------------------------------------------------------------
def _problem_schemas() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    return {**definitions, "Problem": schema}


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Declare problem answers in an OpenAPI document, in place.

    Adds the `Problem` schemas, and turns FastAPI's default 422 answer (and any error
    answer declared with ``model=Problem``) into `application/problem+json`.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(_problem_schemas())
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                if str(status)[:1] not in {"4", "5"} and status != "default":
                    continue
                content = response.get("content", {})
                json_schema = content.get("application/json", {}).get("schema", {})
                if json_schema.get("$ref", "").rsplit("/", 1)[-1] in {
                    "HTTPValidationError",
                    "Problem",
                }:
                    del content["application/json"]
                    content.update(problem)
                    response["content"] = content
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's, now unused
        others = {name: schema for name, schema in schemas.items() if name != unused}
        rest = json.dumps([document.get("paths", {}), others, document.get("webhooks", {})])
        if unused in schemas and f'"#/components/schemas/{unused}"' not in rest:
            del schemas[unused]
    return document


def _document_with_problems(api: FastAPI) -> None:
    if api.openapi_schema is not None:  # already made: amend it
        document_problems(api.openapi_schema)
    if getattr(api, "_problem_documented", False):
        return
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = document_problems(generate())
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    api._problem_documented = True  # type: ignore[attr-defined]


def install_problem_handlers(api: FastAPI) -> None:
    """Answer every error from `api` with a problem, and say so in its OpenAPI document."""
    api.add_exception_handler(RequestValidationError, _invalid)
    api.add_exception_handler(HTTPException, _http)
    api.add_exception_handler(DomainError, _rule_broken)
    api.add_exception_handler(ConcurrencyError, _concurrency)
    api.add_exception_handler(NotFoundError, _not_found)
    api.add_exception_handler(Exception, _internal)
    _document_with_problems(api)


__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_RESPONSES",
    "FieldProblem",
    "Problem",
    "ProblemResponse",
    "document_problems",
    "install_problem_handlers",
    "problem_response",
]
