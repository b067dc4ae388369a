"""Hostile and broken bodies are refused with a problem before the app sees them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from httpx import Response
from starlette.types import Message, Receive, Scope, Send

from services.application import LeadApplication
from services.commands import AdoptPolicy
from services.http.api import create_api
from services.http.idempotency import IdempotencyMiddleware, Stored
from services.http.limits import BodyLimits, json_depth_exceeds
from services.http.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from services.principals import Principals
from tests.factories import IN_MEMORY, OFFICER, POLICY_TERMS, referral_body
from tests.principals import cast

MAX = 2048
DEPTH = 8


class Calls:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []


def make(calls: Calls) -> FastAPI:
    api = FastAPI()
    install_problem_handlers(api)

    @api.post("/things")
    async def create(request: Request) -> dict[str, Any]:
        raw = await request.body()
        calls.bodies.append(raw)
        return {"received": json.loads(raw) if raw else None}

    @api.get("/things")
    def read() -> dict[str, str]:
        calls.bodies.append(b"")
        return {"ok": "yes"}

    @api.post("/stream")
    async def stream(request: Request) -> StreamingResponse:
        calls.bodies.append(await request.body())

        async def events() -> AsyncIterator[bytes]:
            for n in range(3):
                yield f"data: {n}\n\n".encode()

        return StreamingResponse(events(), media_type="text/event-stream")

    api.add_middleware(BodyLimits, max_body_bytes=MAX, max_json_depth=DEPTH)
    return api


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def client(calls: Calls) -> Iterator[TestClient]:
    with TestClient(make(calls)) as client:
        yield client


JSON = {"content-type": "application/json"}


def refused(response: Response, status: int, field: str, *words: str) -> dict[str, Any]:
    """The answer is a problem with this status naming `field` and saying `words`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("urn:lead:problem:")
    assert problem["title"]
    assert field in problem["detail"]
    [error] = problem["errors"]
    assert error["field"] == field
    assert error["accepted"]
    for word in words:
        assert word in problem["detail"] + error["accepted"]
    return problem


# -- size ---------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_refused_by_its_content_length(
    client: TestClient, calls: Calls
) -> None:
    body = json.dumps({"text": "x" * MAX}).encode()
    response = client.post("/things", content=body, headers=JSON)
    problem = refused(response, 413, "body", f"at most {MAX} bytes", f"{len(body)} bytes")
    assert problem["type"] == "urn:lead:problem:body-too-large"
    assert response.headers["connection"] == "close"
    assert calls.bodies == []


def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives(
    client: TestClient, calls: Calls
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 512
        yield b'"}'

    response = client.post("/things", content=chunks(), headers=JSON)
    refused(response, 413, "body", f"at most {MAX} bytes")
    assert calls.bodies == []


def test_reading_stops_just_past_the_limit() -> None:
    """An endless chunked body: read up to the limit and one chunk more, no further."""
    reached: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(True)

    pulled = 0

    async def endless() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"[" + b" " * 99, "more_body": True}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = asgi_scope("POST", [(b"content-type", b"application/json")])
    anyio.run(BodyLimits(app, max_body_bytes=MAX), scope, endless, send)
    assert pulled == MAX // 100 + 1
    assert sent[0]["status"] == 413
    assert not reached


def test_a_body_at_the_limit_is_accepted(client: TestClient, calls: Calls) -> None:
    body = json.dumps({"text": "x" * (MAX - 12)}).encode()
    assert len(body) == MAX
    response = client.post("/things", content=body, headers=JSON)
    assert response.status_code == 200, response.text
    assert calls.bodies == [body]


@pytest.mark.parametrize("length", ["abc", "-1", "1_0", "+5"])
def test_a_content_length_that_is_not_a_count_is_refused(length: str) -> None:
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not be called")

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json"), (b"content-length", length.encode())]
    anyio.run(BodyLimits(app), asgi_scope("POST", headers), receive, send)
    assert sent[0]["status"] == 400
    problem = json.loads(sent[1]["body"])
    assert problem["errors"][0]["field"] == "header.content-length"


# -- media type ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonp",
        "application/json; charset=latin-1",
        None,
    ],
)
def test_a_body_that_is_not_json_is_refused(
    client: TestClient, calls: Calls, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/things", content=b'{"a": 1}', headers=headers)
    problem = refused(response, 415, "header.content-type", "application/json")
    assert problem["type"] == "urn:lead:problem:unsupported-media-type"
    assert (content_type or "none") in problem["detail"]
    assert calls.bodies == []


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON; charset=UTF-8",
        'application/json;charset="utf-8"',
        "application/merge-patch+json",
    ],
)
def test_json_in_any_spelling_is_accepted(
    client: TestClient, calls: Calls, content_type: str
) -> None:
    response = client.post("/things", content=b'{"a": 1}', headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    assert response.json() == {"received": {"a": 1}}
    assert calls.bodies == [b'{"a": 1}']


# -- encoding ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "caf\xe9"}',  # latin-1
        b'{"name": "\xed\xa0\x80"}',  # an encoded surrogate
        '{"name": "x"}'.encode("utf-16"),
        b'{"name": "\xc3"}',  # cut short
    ],
)
def test_a_body_that_is_not_utf8_is_refused(client: TestClient, calls: Calls, body: bytes) -> None:
    response = client.post("/things", content=body, headers=JSON)
    problem = refused(response, 400, "body", "UTF-8")
    assert problem["type"] == "urn:lead:problem:malformed-body"
    assert calls.bodies == []


def test_utf8_text_of_every_kind_is_accepted(client: TestClient, calls: Calls) -> None:
    body = json.dumps({"name": "Zoë Nguyễn 李 🌧 \u0000"}, ensure_ascii=False).encode()
    response = client.post("/things", content=body, headers=JSON)
    assert response.status_code == 200, response.text
    assert calls.bodies == [body]


# -- nesting -------------------------------------------------------------------------------
def nested_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(
    "body",
    [
        b"[" * (MAX - 1),  # unbalanced: still refused, without parsing it
        b"[" * (DEPTH + 1) + b"]" * (DEPTH + 1),
        nested_object(DEPTH + 1),
        b'{"a": "[[[[", "b": ' + b"[" * (DEPTH + 1) + b"]" * (DEPTH + 1) + b"}",
    ],
    ids=["open-brackets", "arrays", "objects", "after-a-string"],
)
def test_json_nested_too_deep_is_refused(client: TestClient, calls: Calls, body: bytes) -> None:
    response = client.post("/things", content=body, headers=JSON)
    problem = refused(response, 422, "body", f"at most {DEPTH} levels")
    assert problem["type"] == "urn:lead:problem:validation"
    assert calls.bodies == []


@pytest.mark.parametrize(
    "body",
    [
        b"[" * DEPTH + b"]" * DEPTH,
        nested_object(DEPTH),
        # Brackets in strings, escaped quotes and backslashes do not count.
        json.dumps({"a": "[" * 100, "b": '\\"[[[[[[[[[[', "c": "\\", "d": [[1]]}).encode(),
    ],
    ids=["arrays", "objects", "strings"],
)
def test_json_at_the_depth_limit_is_accepted(client: TestClient, calls: Calls, body: bytes) -> None:
    response = client.post("/things", content=body, headers=JSON)
    assert response.status_code == 200, response.text
    assert calls.bodies == [body]


def test_the_depth_scan_is_cheap_and_does_not_recurse() -> None:
    assert json_depth_exceeds(b"[" * 1_000_000, 32)
    assert not json_depth_exceeds(b'"' + b"[" * 1_000_000 + b'"', 32)
    assert not json_depth_exceeds(b"[]" * 500_000, 1)
    assert json_depth_exceeds(b'["\\\\"' + b", [" * 3 + b"]" * 3 + b"]", 3)
    assert not json_depth_exceeds(b'["\\"[[[[["]', 1)


# -- what passes untouched ---------------------------------------------------------------------
def test_requests_without_a_body_pass(client: TestClient, calls: Calls) -> None:
    assert client.get("/things", headers={"content-type": "text/plain"}).status_code == 200
    empty = client.post("/things", headers={"content-type": "text/plain"})
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"received": None}
    assert calls.bodies == [b"", b""]


def test_a_body_reaches_the_app_unchanged(client: TestClient, calls: Calls) -> None:
    body = b'{ "a" : [1, 2.50, "\\u00e9"],\n "b": {"c": null} }'
    response = client.post("/things", content=body, headers=JSON)
    assert response.status_code == 200, response.text
    assert calls.bodies == [body]


def test_a_streamed_response_still_streams(client: TestClient, calls: Calls) -> None:
    with client.stream("POST", "/stream", json={"a": 1}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert list(response.iter_bytes()) == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]
    assert calls.bodies == [b'{"a":1}']


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_each_chunk_of_a_stream_is_sent_before_the_next_is_made(method: str) -> None:
    """The app waits for its first chunk to have been sent: a buffering middleware hangs."""
    first_sent = anyio.Event()
    sent: list[Message] = []
    disconnect_seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if method == "POST":
            assert await receive() == {"type": "http.request", "body": b"{}", "more_body": False}
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 0\n\n", "more_body": True})
        await first_sent.wait()
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": False})
        disconnect_seen.append(await receive())  # what streams poll: the client's own

    messages: Iterator[Message] = iter(
        [
            {"type": "http.request", "body": b"{}", "more_body": False},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> Message:
        return next(messages)

    async def send(message: Message) -> None:
        sent.append(message)
        if message.get("body") == b"data: 0\n\n":
            first_sent.set()

    async def main() -> None:
        with anyio.fail_after(2):
            headers = [(b"content-type", b"application/json")] if method == "POST" else []
            await BodyLimits(app)(asgi_scope(method, headers), receive, send)

    anyio.run(main)
    assert [m.get("body") for m in sent[1:]] == [b"data: 0\n\n", b"data: 1\n\n"]
    expected = "http.disconnect" if method == "POST" else "http.request"
    assert disconnect_seen[0]["type"] == expected


def test_websocket_and_lifespan_pass() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> Message:
        raise AssertionError("not read")

    async def send(message: Message) -> None:
        raise AssertionError("nothing sent")

    for kind in ("lifespan", "websocket"):
        anyio.run(BodyLimits(app), {"type": kind}, receive, send)
    assert seen == ["lifespan", "websocket"]


# -- in the API: nothing recorded, no Idempotency-Key claimed -------------------------------------
class Store:
    def __init__(self) -> None:
        self.claimed: list[str] = []

    def claim(
        self, caller: str, key: str, fingerprint: str, at: datetime | None = None
    ) -> Stored | None:
        self.claimed.append(key)
        return None

    def complete(
        self, caller: str, key: str, status: int, content_type: str | None, body: bytes
    ) -> None:
        pass

    def release(self, caller: str, key: str) -> None:
        pass

    def purge(self, claimed_before: datetime) -> int:
        return 0


def test_the_api_records_nothing_for_a_refused_body_and_claims_no_key() -> None:
    application = LeadApplication(env=IN_MEMORY)
    application.adopt_policy(AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    headers = cast(application)["officer.reyes"]
    api = create_api(application, read_pool=None, principals=Principals(application))  # type: ignore[arg-type]  # reads not used here
    store = Store()
    # As the composition root does: idempotency first, so inside the limits.
    api.add_middleware(IdempotencyMiddleware, store=store, now=lambda: datetime.now(UTC))
    api.add_middleware(BodyLimits, max_body_bytes=4096, max_json_depth=DEPTH)
    before = application.recorder.max_notification_id()
    good = json.dumps(referral_body()).encode()
    assert b"Example" in good and len(good) < 4096
    hostile = [
        (good + b" " * 4096, JSON, 413),
        (good, {"content-type": "text/plain"}, 415),
        (good.replace(b"Example", b"Ex\xe1mple", 1), JSON, 400),
        (good[:-1] + b', "x": ' + b"[" * 64 + b"]" * 64 + b"}", JSON, 422),
    ]
    with TestClient(api) as client:
        for n, (body, content_type, status) in enumerate(hostile):
            response = client.post(
                "/v1/referrals",
                content=body,
                headers={**headers, **content_type, "idempotency-key": f"k{n}"},
            )
            assert response.status_code == status, response.text
            assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
        assert application.recorder.max_notification_id() == before
        assert store.claimed == []
        accepted = client.post(
            "/v1/referrals", content=good, headers={**headers, **JSON, "idempotency-key": "ok"}
        )
        assert accepted.status_code == 201, accepted.text
    assert store.claimed == ["ok"]


def asgi_scope(method: str, headers: list[tuple[bytes, bytes]]) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": "/things",
        "raw_path": b"/things",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "scheme": "http",
        "server": ("testserver", 80),
        "http_version": "1.1",
    }
