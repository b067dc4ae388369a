"""Idempotency-Key: the first answer replayed, nothing done twice, misuse refused."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from infra.postgres.idempotency_store import Stored
from services.http.idempotency import IdempotencyMiddleware, IdempotencyPurge
from tests.store_contracts import MemoryIdempotencyStore

CALLER = {"authorization": "Bearer t"}
CALLER_HASH = hashlib.sha256(b"Bearer t").hexdigest()


def make(
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[TestClient, list[dict[str, object]], MemoryIdempotencyStore]:
    api = FastAPI()
    done: list[dict[str, object]] = []

    @api.post("/things", status_code=201)
    def create(body: dict[str, object]) -> dict[str, object]:
        if body.get("fail"):
            raise RuntimeError("boom")
        if body.get("refuse"):
            raise HTTPException(409, "no")
        done.append(body)
        return {"n": len(done)}

    store = MemoryIdempotencyStore()
    api.add_middleware(IdempotencyMiddleware, store=store, now=now)
    return TestClient(api, raise_server_exceptions=False), done, store


def test_a_retry_gets_the_first_answer_and_runs_nothing_again() -> None:
    client, done, _ = make()
    headers = {"idempotency-key": "k1", "authorization": "Bearer a"}
    first = client.post("/things", json={"x": 1}, headers=headers)
    again = client.post("/things", json={"x": 1}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() == {"n": 1}
    assert again.headers["idempotent-replayed"] == "true"
    assert len(done) == 1


def test_keys_belong_to_their_caller() -> None:
    client, done, _ = make()
    client.post("/things", json={"x": 1}, headers={"idempotency-key": "k", "authorization": "A"})
    client.post("/things", json={"x": 1}, headers={"idempotency-key": "k", "authorization": "B"})
    assert len(done) == 2


def test_the_same_key_for_another_request_is_refused() -> None:
    client, done, _ = make()
    client.post("/things", json={"x": 1}, headers={"idempotency-key": "k", **CALLER})
    other = client.post("/things", json={"x": 2}, headers={"idempotency-key": "k", **CALLER})
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    assert len(done) == 1


def test_a_server_error_releases_the_key_and_a_refusal_is_kept() -> None:
    client, _done, store = make()
    failed = client.post("/things", json={"fail": True}, headers={"idempotency-key": "f", **CALLER})
    assert failed.status_code == 500
    assert store.rows == {}
    key = {"idempotency-key": "r", **CALLER}
    refused = client.post("/things", json={"refuse": True}, headers=key)
    again = client.post("/things", json={"refuse": True}, headers=key)
    assert refused.status_code == again.status_code == 409
    assert again.headers["idempotent-replayed"] == "true"


def test_a_request_still_running_or_interrupted_is_reported() -> None:
    client, done, store = make()
    headers = {"idempotency-key": "p", **CALLER}
    caller = CALLER_HASH
    fingerprint = hashlib.sha256(b'POST /things\n{"x":1}').hexdigest()
    store.rows[(caller, "p")] = Stored(fingerprint, None, None, None, datetime.now(UTC))
    running = client.post(
        "/things", content=b'{"x":1}', headers={**headers, "content-type": "application/json"}
    )
    assert running.status_code == 409
    assert "still running" in running.json()["detail"]
    store.rows[(caller, "p")] = Stored(
        fingerprint, None, None, None, datetime.now(UTC) - timedelta(hours=1)
    )
    lost = client.post(
        "/things", content=b'{"x":1}', headers={**headers, "content-type": "application/json"}
    )
    assert "outcome is unknown" in lost.json()["detail"]
    assert done == []


def test_without_a_key_nothing_changes_and_a_bad_key_is_refused() -> None:
    client, done, store = make()
    client.post("/things", json={"x": 1})
    client.post("/things", json={"x": 1})
    assert len(done) == 2 and store.rows == {}
    bad = client.post("/things", json={"x": 1}, headers={"idempotency-key": "x" * 300, **CALLER})
    assert bad.status_code == 422 and "Idempotency-Key" in bad.json()["detail"]


def test_a_request_without_a_caller_claims_no_key() -> None:
    """Without an Authorization header the API answers 401 whatever the key: one claimed
    for "nobody" would turn the next anonymous request's 401 into a 422 or a replay, and
    let anyone fill the store without a token."""
    client, done, store = make()
    client.post("/things", json={"x": 1}, headers={"idempotency-key": "k"})
    again = client.post("/things", json={"x": 2}, headers={"idempotency-key": "k"})
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert len(done) == 2 and store.rows == {}


def test_the_outcome_is_recorded_before_the_client_sees_the_end_of_the_answer() -> None:
    """A client that retries the moment the answer arrives must get it replayed, not a
    409 "still running" (seen on the real stack: the key was completed after sending)."""
    store = MemoryIdempotencyStore()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b'{"n":', "more_body": True})
        await send({"type": "http.response.body", "body": b"1}"})

    seen: list[tuple[bool, int | None]] = []

    async def send(message: Any) -> None:
        if message["type"] == "http.response.body":
            [stored] = store.rows.values()
            seen.append((message.get("more_body", False), stored.status))

    async def receive() -> Any:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    middleware = IdempotencyMiddleware(app, store=store, now=lambda: datetime.now(UTC))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/things",
        "headers": [(b"idempotency-key", b"k"), (b"authorization", b"Bearer t")],
    }
    anyio.run(middleware, scope, receive, send)
    assert seen == [(True, None), (False, 201)]  # completed before the last part left
    [stored] = store.rows.values()
    assert stored.body == b'{"n":1}'


def test_a_key_is_kept_for_its_time_then_purged_and_the_request_runs_anew() -> None:
    clock = [datetime(2026, 3, 1, 9, 0, tzinfo=UTC)]
    client, done, store = make(now=lambda: clock[0])
    purge = IdempotencyPurge(store, ttl=timedelta(days=7), now=lambda: clock[0])
    headers = {"idempotency-key": "k", **CALLER}
    client.post("/things", json={"x": 1}, headers=headers)

    clock[0] += timedelta(days=6, hours=23)  # within its time: kept, replayed
    assert purge.once() == 0
    kept = client.post("/things", json={"x": 1}, headers=headers)
    assert kept.headers.get("idempotent-replayed") == "true" and len(done) == 1

    clock[0] += timedelta(hours=2)  # past seven days since it was claimed: purged
    assert purge.once() == 1
    anew = client.post("/things", json={"x": 1}, headers=headers)
    assert "idempotent-replayed" not in anew.headers
    assert anew.json() == {"n": 2} and len(done) == 2


def test_the_purge_goes_on_through_a_failure_until_cancelled() -> None:
    calls: list[datetime] = []

    class Flaky(MemoryIdempotencyStore):
        def purge(self, claimed_before: datetime) -> int:
            calls.append(claimed_before)
            if len(calls) == 1:
                raise OSError("PostgreSQL away")
            return 0

    now = datetime(2026, 3, 1, tzinfo=UTC)
    purge = IdempotencyPurge(Flaky(), ttl=timedelta(days=7), now=lambda: now, interval=0.01)

    async def main() -> None:
        with anyio.move_on_after(0.5):
            await purge.run()

    anyio.run(main)
    assert len(calls) >= 3 and set(calls) == {now - timedelta(days=7)}
