"""`Idempotency-Key` on POST: a retried request gets the first answer and records nothing twice.

Keys are scoped to the caller (a hash of their Authorization header) and bound to
the request: the same key with a different method, path or body is refused. A request
without an Authorization header claims no key (the API refuses it with 401). The
first request claims the key before it runs; a retry that arrives while it runs is
told so (409), and one that arrives after gets the stored answer replayed. A server
error (5xx) releases the key, so the client may retry. If the process dies while a
request runs, its key stays claimed: the outcome is unknown, and the client is told
to check the record before retrying with a new key.

A key is kept for `LEAD_IDEMPOTENCY_TTL_DAYS` after it was claimed, then purged
(`IdempotencyPurge`, run by the API): a retry after that runs as a new request.

An answer marked `Cache-Control: no-store` carries a secret shown once (a new token):
its body is not kept, and a retry is told so (409) instead of being shown it again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import anyio

from infra.postgres.idempotency_store import Stored

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER = b"idempotency-key"
MAX_KEY = 200
STALE_AFTER = timedelta(minutes=2)


class IdempotencyStore(Protocol):
    def claim(
        self, caller: str, key: str, fingerprint: str, at: datetime | None = None
    ) -> Stored | None:
        """Claim the key (as of `at`, default now); None if claimed now, else what is
        stored under it."""

    def complete(
        self, caller: str, key: str, status: int, content_type: str | None, body: bytes
    ) -> None: ...

    def release(self, caller: str, key: str) -> None: ...

    def purge(self, claimed_before: datetime) -> int:
        """Forget every key claimed before then, answered or not; how many were."""


class IdempotencyPurge:
    """Purges the keys older than `ttl`, every `interval` seconds, while the API runs."""

    def __init__(
        self,
        store: IdempotencyStore,
        ttl: timedelta,
        now: Callable[[], datetime],
        interval: float = 3600.0,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.now = now
        self.interval = interval

    def once(self) -> int:
        return self.store.purge(self.now() - self.ttl)

    async def run(self) -> None:
        """Until cancelled; a failed purge (PostgreSQL away) is tried again next time."""
        while True:
            with contextlib.suppress(Exception):
                await anyio.to_thread.run_sync(self.once)
            await anyio.sleep(self.interval)


def _problem(
    status: int, title: str, detail: str, accepted: str | None = None
) -> tuple[int, bytes]:
    body: dict[str, Any] = {
        "type": "urn:lead:problem:idempotency",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if accepted is not None:  # a refusal of the header itself names it, as a 422 does
        message = detail.removeprefix("header Idempotency-Key: ")
        body["errors"] = [
            {"field": "header.Idempotency-Key", "message": message, "accepted": accepted}
        ]
    return status, json.dumps(body).encode()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, store: IdempotencyStore, now: Callable[[], datetime]) -> None:
        self.app = app
        self.store = store
        self.now = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw_key = headers.get(HEADER)
        if raw_key is None or not headers.get(b"authorization"):
            # Without a caller nothing is claimed: the app refuses it (401), and keys kept
            # for "nobody" would be shared by every request without a token.
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY:
            await self._answer(
                send,
                *_problem(
                    422,
                    "Bad Idempotency-Key",
                    f"header Idempotency-Key: 1 to {MAX_KEY} characters (a UUID is best)",
                    f"1 to {MAX_KEY} characters, a new one per request (a UUID is best)",
                ),
            )
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        caller = hashlib.sha256(headers.get(b"authorization", b"")).hexdigest()
        fingerprint = hashlib.sha256(
            scope["method"].encode() + b" " + scope["path"].encode() + b"\n" + body
        ).hexdigest()
        stored = await anyio.to_thread.run_sync(
            self.store.claim, caller, key, fingerprint, self.now()
        )
        if stored is not None:
            await self._replay(send, stored, fingerprint)
            return

        replayed = False

        async def replay_body() -> Message:
            nonlocal replayed
            if replayed:
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 500
        content_type: str | None = None
        chunks: list[bytes] = []
        settled = False
        secret = False

        async def settle() -> None:
            """Record the outcome before the client can see the end of the answer: a
            retry sent the moment it arrives must find it, not a claim in progress."""
            nonlocal settled
            settled = True
            if status >= 500:
                await anyio.to_thread.run_sync(self.store.release, caller, key)
            elif secret:
                kept, body = _problem(
                    409,
                    "Answer not kept",
                    "the first request with this key succeeded and its answer held a secret "
                    "shown once, which is not kept: rotate the principal's token for a new one",
                )
                await anyio.to_thread.run_sync(
                    self.store.complete, caller, key, kept, "application/problem+json", body
                )
            else:
                await anyio.to_thread.run_sync(
                    self.store.complete, caller, key, status, content_type, b"".join(chunks)
                )

        async def capture(message: Message) -> None:
            nonlocal status, content_type, secret
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
                    elif name.lower() == b"cache-control" and b"no-store" in value.lower():
                        secret = True
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await settle()
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        except BaseException:
            if not settled:
                await anyio.to_thread.run_sync(self.store.release, caller, key)
            raise
        if not settled:
            await settle()

    async def _replay(self, send: Send, stored: Stored, fingerprint: str) -> None:
        if stored.fingerprint != fingerprint:
            await self._answer(
                send,
                *_problem(
                    422,
                    "Idempotency-Key reused",
                    "header Idempotency-Key: this key was used for a different request; "
                    "use a new key for a new request",
                    "a key not used before by this caller",
                ),
            )
        elif stored.status is None:
            if self.now() - stored.claimed_at > STALE_AFTER:
                detail = (
                    "the first request with this key was interrupted and its outcome is "
                    "unknown: check the record, then retry with a new key"
                )
            else:
                detail = "the first request with this key is still running; retry shortly"
            await self._answer(send, *_problem(409, "Request in progress", detail))
        else:
            await self._answer(
                send,
                stored.status,
                stored.body or b"",
                stored.content_type,
                replayed=True,
            )

    @staticmethod
    async def _answer(
        send: Send,
        status: int,
        body: bytes,
        content_type: str | None = "application/problem+json",
        *,
        replayed: bool = False,
    ) -> None:
        headers = [(b"content-length", str(len(body)).encode())]
        if content_type:
            headers.append((b"content-type", content_type.encode()))
        if replayed:
            headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
