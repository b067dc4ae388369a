"""A save whose insert committed but was retried (the connection failed before the answer
came back) is a success; a save that lost to another writer is a conflict."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from aggregates.referral import Referral
from services import commands as c
from services.application import LeadApplication
from services.errors import ConcurrencyError
from tests.factories import IN_MEMORY, OFFICER, POLICY_TERMS, referral_body


def site() -> LeadApplication:
    app = LeadApplication(env=IN_MEMORY)
    app.adopt_policy(c.AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    return app


def test_an_insert_that_committed_before_its_retry_collided_is_answered_as_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = site()
    insert = app.recorder.insert_events

    def committed_then_collided(stored_events: Any, **kwargs: Any) -> Any:
        insert(stored_events, **kwargs)  # the first try: committed, its answer lost
        raise IntegrityError("duplicate key value violates unique constraint")  # the retry

    monkeypatch.setattr(app.recorder, "insert_events", committed_then_collided)
    receipt = app.receive_referral(c.ReceiveReferral.model_validate(referral_body()), OFFICER)
    monkeypatch.undo()
    stored = app.repository.get(receipt.id)
    assert isinstance(stored, Referral) and stored.version == receipt.version == 2
    assert receipt.position == app.recorder.max_notification_id()


def test_losing_to_another_writer_is_still_a_conflict() -> None:
    app = site()
    receipt = app.receive_referral(c.ReceiveReferral.model_validate(referral_body()), OFFICER)
    ours = app.repository.get(receipt.id)
    app.approve_referral(receipt.id, c.ApproveReferral(), OFFICER)  # someone else, first
    assert isinstance(ours, Referral)
    ours.approve(actor=OFFICER, intake_deadline_days=14, capacity_left=10, occurred_at=None)
    with pytest.raises(ConcurrencyError):
        app._save(ours)


def test_an_insert_refused_without_storing_anything_is_a_conflict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = site()

    def refused(stored_events: Any, **kwargs: Any) -> Any:
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(app.recorder, "insert_events", refused)
    with pytest.raises(ConcurrencyError):
        app.receive_referral(c.ReceiveReferral.model_validate(referral_body()), OFFICER)
