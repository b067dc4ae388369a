"""What the routes read and record through: the application, the read pool, the
record of disclosures, read-your-writes, and the scope checks that decide who sees a
referral or a participant's record."""

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from fastapi import HTTPException
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from events.base import Actor
from events.consent import InformationKind
from events.disclosure import disclosure_record
from events.envelope import CloudEvent
from services import access, reads
from services.application import LeadApplication
from services.errors import NotFoundError
from services.http.notice import disclosed_under_consent
from services.http.pagination import CursorError, keyset_page, page
from services.principals import Principals

ReadYourWrites = Callable[[list[str], int, float], bool]
Readiness = Callable[[], dict[str, Any]]
Record = Callable[[list[CloudEvent]], None]


@dataclass(frozen=True)
class ApiOptions:
    suppress_below: int = 11
    equity_baseline: dict[str, int] = field(default_factory=dict)
    source: str = "urn:lead:site:lead-site"
    read_timeout: float = 10.0
    bootstrap_servers: str | None = None  # for live subscriptions
    auth_failure_limit: int = 10  # failed authentications from one address ...
    auth_failure_window: float = 60.0  # ... within this many seconds: then 429


ReferrerView = tuple[dict[str, Any], dict[str, Any], UUID | None, str | None]
Withheld = dict[UUID, list[InformationKind]]


@dataclass(frozen=True)
class ApiContext:
    """What `create_api` was given, and the helpers every router shares."""

    application: LeadApplication
    read_pool: ConnectionPool[Any]
    principals: Principals
    opts: ApiOptions
    record_disclosures: Record | None = None
    read_your_writes: ReadYourWrites | None = None
    readiness: Readiness | None = None

    @staticmethod
    def not_found(what: str) -> HTTPException:
        """The same answer whether it does not exist or the caller may not see it."""
        return HTTPException(404, f"no {what} that you may see")

    def fresh(self, projections: list[str], position: int | None) -> None:
        """Read-your-writes: wait until the views have applied the caller's write."""
        if position is None or self.read_your_writes is None:
            return
        latest = self.application.recorder.max_notification_id() or 0
        if position > latest:
            raise HTTPException(
                422,
                f"query parameter min_position: {position} is beyond the store's latest "
                f"position ({latest}); pass the position a write answered with",
            )
        if not self.read_your_writes(projections, position, self.opts.read_timeout):
            raise HTTPException(
                503,
                f"the view has not reached store position {position} within "
                f"{self.opts.read_timeout:.0f}s; retry shortly",
                headers={"Retry-After": "1"},
            )

    def read(self, query: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self.read_pool.connection() as conn:
            conn.row_factory = dict_row
            return query(conn, *args, **kwargs)

    def paged(
        self, items: list[Any], key: Callable[[Any], Any], cursor: str | None, limit: int
    ) -> Any:
        try:
            return page(items, key, cursor, limit)
        except CursorError as exc:
            raise HTTPException(422, str(exc)) from None

    def keyset(
        self,
        query: Callable[..., Any],
        key: Callable[[Any], Any],
        width: int,
        cursor: str | None,
        limit: int,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """A page of `query`'s rows, sought in SQL: `query(conn, *args, after=, limit=,
        **kwargs)` returns the rows after the cursor's key, at most `limit`."""

        def fetch(after: list[Any] | None, n: int) -> Any:
            return self.read(query, *args, after=after, limit=n, **kwargs)

        try:
            return keyset_page(fetch, key, cursor, limit, width)
        except CursorError as exc:
            raise HTTPException(422, str(exc)) from None
        except psycopg.DataError:  # a value of the cursor the key's type cannot hold
            raise HTTPException(
                422, "query parameter cursor: not a cursor from this API for this list"
            ) from None

    def record(self, records: list[CloudEvent]) -> None:
        """On `lead.audit.v1` before the answer leaves: no record, no answer."""
        if self.record_disclosures is not None and records:
            self.record_disclosures(records)
        if any(r.type == "org.lead.disclosure.recorded.v1" for r in records):
            disclosed_under_consent()  # the answer carries the 42 CFR 2.32 notice

    def record_staff_access(
        self, actor: Actor, people: Iterable[UUID], kind: str, channel: str, what: str
    ) -> None:
        """The program's own staff read participant-level data: recorded, no consent needed."""
        basis = f"program staff ({actor.role.value.replace('_', ' ')}): {what}"
        self.record(
            reads.access_records(
                actor,
                [(p, kind, None, basis) for p in dict.fromkeys(people)],
                source=self.opts.source,
                channel=channel,
                purpose=f"read by {actor.principal}: {what}",
            )
        )

    def referrer_views(self, actor: Actor, referrals: list[dict[str, Any]]) -> list[ReferrerView]:
        """Each referral as its referrer may see it, beside the row it comes from."""
        now = self.application.clock.now()
        return [(r, *reads.referrer_view(self.application, actor, r, now)) for r in referrals]

    def referrer_answers(self, actor: Actor, views: list[ReferrerView], channel: str) -> list[Any]:
        self.record(
            reads.access_records(
                actor,
                [
                    (row["person_id"], InformationKind.PROGRAM_STATUS.value, consent, basis)
                    for row, _, consent, basis in views
                ],
                source=self.opts.source,
                channel=channel,
                purpose=f"{actor.principal} followed their referral",
            )
        )
        return [view for _, view, _, _ in views]

    def referral_answer(
        self, actor: Actor, referral: dict[str, Any], channel: str
    ) -> dict[str, Any]:
        if access.sees_all_referrals(actor):
            self.record_staff_access(
                actor, [referral["person_id"]], "referral", channel, "referral"
            )
            return referral
        [answer] = self.referrer_answers(actor, self.referrer_views(actor, [referral]), channel)
        return dict(answer)

    def works_with(self, person_id: UUID, actor: Actor, read: str | None = None) -> None:
        """404 unless the caller works with the participant; a refused `read` (its
        channel) is recorded as withheld."""
        try:
            participant = self.application.participant(person_id)
        except NotFoundError:
            raise self.not_found("participant") from None
        if not access.works_with(actor, participant.case_manager):
            if read is not None:
                self.refused(actor, person_id, "case_record", read)
            raise self.not_found("participant")

    def refused(self, actor: Actor, person_id: UUID, kind: str, channel: str) -> None:
        """A read of someone's record outside the caller's scope: 404 to the caller (as for
        no record), a withheld disclosure for the auditors."""
        self.record(
            [
                disclosure_record(
                    record_id=f"disclosure:{uuid.uuid4()}",
                    source=self.opts.source,
                    person_id=str(person_id),
                    recipient_principal=actor.principal,
                    recipient_organisation=actor.organisation,
                    recipient_role=actor.role.value,
                    channel=channel,
                    information_kind=kind,
                    purpose=f"asked by {actor.principal}",
                    consent_id=None,
                    at=datetime.now(UTC),
                    reason="outside the caller's scope",
                )
            ]
        )

    def disclose(self, query: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self.read_pool.connection() as conn:
            conn.row_factory = dict_row
            return query(self.application, conn, *args, **kwargs)
