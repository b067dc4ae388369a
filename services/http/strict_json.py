"""Strict JSON bodies: every value of a body checked, as JSON, against the type the
document states, before FastAPI validates it as usual."""

import functools
from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from pydantic_core import SchemaValidator

AS_TEXT = {
    "date": (r"^\d{4}-\d{2}-\d{2}$", "date_parsing", "as text, e.g. 2026-03-02"),
    "datetime": (
        r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$",
        "datetime_parsing",
        "as text, e.g. 2026-03-02T09:30:00-08:00",
    ),
    "uuid": (
        r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
        "uuid_parsing",
        "as text, e.g. 0b8e4c1e-5a43-4f5e-9a7e-2f1d6c3b9a10",
    ),
}
"""How JSON carries a date, a date and time, and a UUID (RFC 3339, RFC 4122): as text of
this form (not a number of seconds, not hex digits without their hyphens); the error a
value of another form gets, and what it says."""


def _as_text(kind: str) -> dict[str, Any]:
    pattern, error, says = AS_TEXT[kind]
    text = {"type": "str", "pattern": pattern}
    # A union of one is validated as its only member, which has no error of its own.
    return {
        "type": "union",
        "choices": [text, text],
        "custom_error_type": error,
        "custom_error_context": {"error": says},
    }


CONSTRAINTS = frozenset(
    f"{name}_validator"
    for name in (
        "greater_than",
        "greater_than_or_equal",
        "less_than",
        "less_than_or_equal",
        "multiple_of",
        "min_length",
        "max_length",
    )
)
"""pydantic's own checks of a field's bounds, where it cannot put them in the schema."""


def _is_constraint(function: Any) -> bool:
    return (
        isinstance(function, functools.partial)
        and getattr(function.func, "__module__", "") == "pydantic._internal._validators"
        and getattr(function.func, "__name__", "") in CONSTRAINTS
    )


def types_only(schema: Any) -> Any:
    """A pydantic core schema without its functions: the types and constraints alone,
    dates, times and UUIDs as the text JSON carries them in (`AS_TEXT`). Lengths are
    the sent text's then, as JSON Schema counts them (Text checks the normalised text
    too, so a CRLF is not one character short of a limit).

    Each model's class is swapped for a plain one too, or pydantic-core would validate
    a complete model with the model's own validator, functions and all."""
    if isinstance(schema, list):
        return [types_only(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if kind in AS_TEXT:
        return _as_text(kind)
    if kind == "function-after" and _is_constraint(schema["function"].get("function")):
        return {**schema, "schema": types_only(schema["schema"])}
    if kind in ("function-before", "function-after", "function-wrap"):
        return types_only(schema["schema"])
    if kind == "function-plain":
        return {"type": "any"}
    stripped = {key: types_only(value) for key, value in schema.items()}
    if kind == "model":
        stripped["cls"] = type("Checked", (), {})
    return stripped


async def check_json_body(request: Request) -> None:
    """The route's `JsonBodyRoute.checker` on the body, once the caller is authorised."""
    checker = getattr(request.scope.get("route"), "checker", None)
    body = await request.body()
    if checker is None or not body:
        return
    try:
        checker.validate_json(body, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if not any(e["type"] == "json_invalid" for e in errors):  # FastAPI answers those
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in errors]
            ) from None


class JsonBodyRoute(APIRoute):
    """A route that checks a JSON body as JSON first, strictly: every value of the type
    the document states (`0` is not a date, `"25"` not a number, `1` not `true`).

    FastAPI validates the decoded body, and pydantic converts all of those; so, after
    the caller's role is checked, the body is checked against its model's types alone
    (`types_only`) in pydantic's strict JSON mode, and then validated as usual (every
    validator, the same errors)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        dependencies = [*(kwargs.pop("dependencies", None) or []), Depends(check_json_body)]
        super().__init__(path, endpoint, dependencies=dependencies, **kwargs)
        body_type = self.body_field.field_info.annotation if self.body_field else None
        self.checker = (
            None
            if body_type is None
            else SchemaValidator(types_only(TypeAdapter(body_type).core_schema))
        )
