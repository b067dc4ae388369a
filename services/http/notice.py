"""The 42 CFR 2.32 notice on every answer that discloses under a consent.

A pure ASGI middleware: each request gets a fresh mark; recording a disclosure made
under a consent (`recorded`, routers/context.py) sets it, and the answer then carries
`Lead-Redisclosure-Notice` naming the notice and its version (events/disclosure.py;
its text: docs/part2.md). The mark is a mutable holder in a context variable, so a
sync endpoint running in the thread pool (a copy of the context) still reaches it.
"""

from __future__ import annotations

from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events.disclosure import REDISCLOSURE_NOTICE

HEADER = b"lead-redisclosure-notice"

_marks: ContextVar[list[bool] | None] = ContextVar("lead_redisclosure", default=None)


def disclosed_under_consent() -> None:
    """This request's answer discloses under a consent: it carries the notice."""
    mark = _marks.get()
    if mark is not None:
        mark.append(True)


class RedisclosureNotice:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        mark: list[bool] = []
        token = _marks.set(mark)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and mark:
                headers = [*message.get("headers", []), (HEADER, REDISCLOSURE_NOTICE.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            _marks.reset(token)
