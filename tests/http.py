"""HTTP clients for the tests, as a client library would set them up: every POST carries
a new Idempotency-Key unless the test gives one (the API refuses a POST without)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx


def add_idempotency_key(request: httpx.Request) -> None:
    if request.method == "POST" and "idempotency-key" not in request.headers:
        request.headers["Idempotency-Key"] = str(uuid4())


def keyed(client: Any) -> Any:
    """`client` (an httpx or Starlette test client) with a key added to each POST."""
    client.event_hooks = {**client.event_hooks, "request": [add_idempotency_key]}
    return client


def api_client(base_url: str, **options: Any) -> httpx.Client:
    client: httpx.Client = keyed(httpx.Client(base_url=base_url, **options))
    return client
