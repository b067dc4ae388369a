"""Limits on request bodies, checked before anything else reads them.

`BodyLimits` is a pure ASGI middleware. For a POST, PUT or PATCH with a body it

- refuses a body larger than `max_body_bytes` (413): at once when Content-Length says
  so, else as soon as the bytes received pass the limit (a chunked body too); it never
  reads more than the limit and the one chunk that passes it;
- refuses a Content-Type other than JSON (415): ``application/json`` or
  ``application/<something>+json``, in UTF-8 if a charset is given;
- refuses a body that is not UTF-8 (400);
- refuses JSON nested more than `max_json_depth` levels deep (422), found by counting
  brackets outside strings, without parsing and without recursion;

and otherwise hands the body it read to the app unchanged. Every refusal is an
`application/problem+json` answer naming the header or the body and what is accepted,
given before the app runs: nothing is recorded, and an Idempotency-Key is not claimed
(add this middleware after, so outside, `IdempotencyMiddleware`). Requests without a
body pass untouched, and responses are never wrapped, so streams stay streams.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.http.problems import VALIDATION, FieldProblem, problem_response, validation_detail

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_JSON_DEPTH", "BodyLimits", "json_depth_exceeds"]

DEFAULT_MAX_BODY_BYTES: Final = 65_536
DEFAULT_MAX_JSON_DEPTH: Final = 32

TOO_LARGE: Final = "urn:lead:problem:body-too-large"
UNSUPPORTED_MEDIA_TYPE: Final = "urn:lead:problem:unsupported-media-type"
MALFORMED: Final = "urn:lead:problem:malformed-body"

ACCEPTED_MEDIA_TYPE: Final = "application/json (or application/*+json), in UTF-8"
_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH"})
_UTF8: Final = frozenset({"utf-8", "utf8"})
# What matters to nesting: brackets, and the quotes and escapes that hide them in strings.
_STRUCTURAL: Final = re.compile(rb'["\\\[\]{}]')


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON text nests arrays and objects more than `limit` levels deep.

    A linear scan of the bytes that stops at the first level too deep; brackets inside
    strings do not count. Not a validator: malformed JSON is left to the parser.
    """
    depth = 0
    in_string = False
    escaped_until = -1  # the byte after a backslash in a string is skipped
    for match in _STRUCTURAL.finditer(body):
        at = match.start()
        if at < escaped_until:
            continue
        char = body[at : at + 1]
        if in_string:
            if char == b"\\":
                escaped_until = at + 2
            elif char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


def _is_json(content_type: str) -> bool:
    media, *parameters = (part.strip().lower() for part in content_type.split(";"))
    kind, _, subtype = media.partition("/")
    suffixed = subtype.endswith("+json") and len(subtype) > len("+json")
    if kind != "application" or not (subtype == "json" or suffixed):
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in _UTF8:
            return False
    return True


def _size(n: int) -> str:
    return f"{n} bytes ({n / 1024:g} KiB)" if n % 1024 == 0 else f"{n} bytes"


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: the answer's status, type and title, and the field."""

    status: int
    type: str
    title: str
    field: str
    message: str
    accepted: str

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = FieldProblem(field=self.field, message=self.message, accepted=self.accepted)
        detail = (
            validation_detail([problem])
            if self.type == VALIDATION
            else f"{self.field}: {self.message}."
        )
        response = problem_response(
            Request(scope),
            self.status,
            detail,
            type_=self.type,
            title=self.title,
            # A body left unread cannot be skipped on a kept-alive connection.
            headers={"Connection": "close"} if self.status == 413 else None,
            errors=[problem.model_dump(mode="json", exclude_unset=True)],
        )
        await response(scope, receive, send)


BAD_LENGTH: Final = Refusal(
    400,
    MALFORMED,
    "Malformed request",
    "header.content-length",
    "not one non-negative whole number of bytes",
    "one non-negative whole number",
)


class BodyLimits:
    """Size, media type, encoding and nesting limits on request bodies (see the module)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, list[bytes]] = {}
        for name, value in scope.get("headers") or []:
            headers.setdefault(name.lower(), []).append(value)

        lengths = headers.get(b"content-length", [])
        if lengths:
            declared = {int(v) if v.strip().isdigit() else -1 for v in lengths}
            if len(declared) != 1 or min(declared) < 0:
                await BAD_LENGTH.answer(scope, receive, send)
                return
            [length] = declared
            if length == 0:
                await self.app(scope, receive, send)
                return
            if length > self.max_body_bytes:
                await self._too_large(length).answer(scope, receive, send)
                return

        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: no one to answer
            chunk = bytes(message.get("body", b""))
            received += len(chunk)
            if received > self.max_body_bytes:
                await self._too_large(None).answer(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            refusal = self._check(body, headers.get(b"content-type", []))
            if refusal is not None:
                await refusal.answer(scope, receive, send)
                return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # e.g. http.disconnect, which streams wait for
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _check(self, body: bytes, content_types: list[bytes]) -> Refusal | None:
        given = content_types[0].decode("latin-1") if len(content_types) == 1 else None
        if given is None or not _is_json(given):
            shown = ", ".join(repr(v.decode("latin-1")) for v in content_types) or "none"
            return Refusal(
                415,
                UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
                "header.content-type",
                f"{shown} is not accepted; send the body as application/json",
                ACCEPTED_MEDIA_TYPE,
            )
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Refusal(
                400,
                MALFORMED,
                "Malformed body",
                "body",
                f"not valid UTF-8 (at byte {exc.start}); JSON must be sent in UTF-8",
                "JSON text encoded in UTF-8",
            )
        if json_depth_exceeds(body, self.max_json_depth):
            return Refusal(
                422,
                VALIDATION,
                "Invalid input",
                "body",
                f"JSON nested more than {self.max_json_depth} levels deep",
                f"arrays and objects nested at most {self.max_json_depth} levels deep",
            )
        return None

    def _too_large(self, length: int | None) -> Refusal:
        limit = _size(self.max_body_bytes)
        size = _size(length) if length is not None else "this body"
        return Refusal(
            413,
            TOO_LARGE,
            "Request body too large",
            "body",
            f"{size} is more than the {limit} accepted",
            f"at most {limit}",
        )
