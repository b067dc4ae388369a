"""Every free-text field is sealed under the person's key or listed, with a reason, as in
clear; docs/sealed-fields.md says which; the views that show sealed words open them, and
a rebuild after a person is forgotten gives the rows the live views have."""

from __future__ import annotations

import json
from typing import Any, ClassVar
from uuid import UUID

import orjson
import pytest
from pydantic import Field

from consumers.prosecution import ProsecutionFeed
from events.base import SEALED, DomainEvent
from events.envelope import CloudEvent, decode_opening, envelope
from events.free_text import render, sealed_paths, text_fields, unclassified
from events.registry import EVENT_CLASSES
from events.text import Text
from infra.crypto.sealing import MemoryKeyStore, PersonSealer, concrete_paths
from infra.postgres.mapper import PydanticMapper
from infra.settings import PROJECT_ROOT
from projections.audit import AuditProjection
from projections.base import Projection, reads_sealed
from projections.liaison.projection import LiaisonProjection
from projections.referrals import ReferralsProjection
from services.application import LeadApplication
from services.contracts.catalog import SEALED_FIELDS_FILE, check_docs
from tests import scenario
from tests.factories import IN_MEMORY
from tests.unit.test_liaison_projection import Tables


def test_every_text_field_of_every_event_is_sealed_or_listed_with_a_reason() -> None:
    assert unclassified(EVENT_CLASSES) == []


def test_the_sealed_fields_doc_is_current() -> None:
    assert SEALED_FIELDS_FILE.as_posix() not in check_docs(PROJECT_ROOT)
    assert (PROJECT_ROOT / SEALED_FIELDS_FILE).read_text() == render(EVENT_CLASSES)
    assert "NOT CLASSIFIED" not in render(EVENT_CLASSES)
    assert "sealed-fields.md" in (PROJECT_ROOT / "docs" / "security.md").read_text()


class _Unlisted(DomainEvent):
    """Not published (no event_type): only here to be found out."""

    SENSITIVE: ClassVar[tuple[str, ...]] = ("story", "nowhere")
    story: Text = Field(max_length=10)
    remark: Text | None = None
    remarks: tuple[Text, ...] = ()


def test_a_text_field_neither_sealed_nor_listed_is_found() -> None:
    assert text_fields(_Unlisted) == [
        "actor.organisation",
        "actor.principal",
        "remark",
        "remarks",
        "story",
    ]
    problems = unclassified([_Unlisted])
    assert f"{_Unlisted.event_type} remark: neither sealed nor listed" in problems
    assert f"{_Unlisted.event_type} remarks: neither sealed nor listed" in problems
    assert f"{_Unlisted.event_type} nowhere: sealed, but no such text field" in problems
    assert not any(" story:" in p or "actor." in p for p in problems)


def test_free_text_of_people_is_sealed_and_of_no_one_is_not() -> None:
    """Each event about a person with prose has it sealed; events about no person
    (principals, policy, a caseload) seal nothing: they hold no participant's words."""
    for cls in EVENT_CLASSES:
        about_someone = (
            "person_id" in cls.model_fields and cls.model_fields["person_id"].is_required()
        )
        if not about_someone:
            assert cls.SENSITIVE == (), cls.event_type
    by_type = {cls.event_type: set(sealed_paths(cls)) for cls in EVENT_CLASSES}
    assert {"incident.description", "incident.place"} <= by_type["referral.received"]
    assert by_type["referral.declined"] == {"reason"}
    assert by_type["participant.status_changed"] == {"reason"}
    assert by_type["case.opened"] == {"charges.*.description"}
    assert by_type["consent.granted"] == {"purpose", "expiration_event"}


def test_a_path_through_a_list_seals_each_item_and_opens_again() -> None:
    keys = MemoryKeyStore()
    sealer = PersonSealer(keys)
    person = UUID(int=7)
    state: dict[str, Any] = {
        "person_id": str(person),
        "charges": [{"description": "first words"}, {"description": "second words"}],
    }
    assert concrete_paths(state, "charges.*.description") == [
        "charges.0.description",
        "charges.1.description",
    ]
    sealed = sealer.seal(("charges.*.description",), json.loads(json.dumps(state)))
    assert b"words" not in orjson.dumps(sealed)
    assert [c["description"] for c in sealed["charges"]] == [SEALED, SEALED]
    assert sealer.open(sealed) == {**state, "sealed": None}


# -- the site scenario, recorded by an application that seals ----------------------------


def sealed_site() -> tuple[LeadApplication, MemoryKeyStore, scenario.Site]:
    keys = MemoryKeyStore()
    app = LeadApplication(env=IN_MEMORY, sealer=PersonSealer(keys))
    site = scenario.run(app)
    return app, keys, site


def _at(state: Any, path: str) -> Any:
    for part in path.split("."):
        state = state[int(part)] if isinstance(state, list) else state.get(part)
        if state is None:
            return None
    return state


def test_no_sealed_field_is_in_the_stored_bytes_and_the_key_opens_each() -> None:
    app, _, _ = sealed_site()
    seen: set[str] = set()
    for notification in app.recorder.select_notifications(start=1, limit=10_000):
        cls = next(c for c in EVENT_CLASSES if notification.topic.endswith(c.__name__))
        stored = orjson.loads(notification.state)
        opened = app.mapper.to_domain_event(notification).model_dump(mode="json")  # type: ignore[attr-defined]
        for wanted in cls.SENSITIVE:
            for path in concrete_paths(stored, wanted):
                words = _at(opened, path)
                if words in (None, [], ""):
                    continue
                assert _at(stored, path) in (SEALED, [], None), (cls.event_type, path)
                if isinstance(words, str):
                    assert words.encode() not in notification.state, (cls.event_type, path)
                seen.add(f"{cls.event_type} {wanted}")
    # The scenario writes these, so their sealing is checked above (the e2e test puts a
    # marker in every text field the API takes).
    assert {
        "referral.received incident.description",
        "referral.declined reason",
        "case.opened charges.*.description",
        "consent.granted purpose",
    } <= seen


VIEWS: tuple[Projection, ...] = (ReferralsProjection(), AuditProjection(), LiaisonProjection())


def project(messages: list[CloudEvent], opener: Any) -> dict[str, Tables]:
    """The views as a rebuild of each alone makes them from the topic: opening only the
    events that view declares in `reads_sealed`."""
    tables = {v.name: Tables(v.tables) for v in VIEWS}
    for view in VIEWS:
        opens = reads_sealed([view])
        for message in messages:
            event = decode_opening(message, opener, opens)
            for change in view.handle(event, message.position):
                tables[view.name].apply(change)
    return tables


def published(app: LeadApplication) -> list[CloudEvent]:
    """What the relay publishes: the stored (sealed) events, read without the key."""
    keyless = PydanticMapper(transcoder=app.mapper.transcoder)
    return [
        CloudEvent.from_json(
            envelope(keyless.to_domain_event(n), position=n.id, source="s").to_json()  # type: ignore[arg-type]
        )
        for n in app.recorder.select_notifications(start=1, limit=10_000)
    ]


def test_views_show_the_words_and_a_rebuild_after_forgetting_gives_the_live_rows() -> None:
    app, keys, site = sealed_site()
    opener = PersonSealer(keys).open
    messages = published(app)
    assert any(m.data.get("sealed") for m in messages)
    live = project(messages, opener)  # the key still there while the events went by
    rows = {name: t.rows for name, t in live.items()}
    text = repr(rows)
    assert SEALED not in text, "a view shows a sealed field it does not declare in reads_sealed"
    assert "already in another program" in text  # the decline reason, opened

    assert site.forgotten_person is not None
    keys.destroy(site.forgotten_person, "asked to be forgotten")  # as `Privacy.forget` does
    rebuilt = project(messages, opener)
    assert {name: t.rows for name, t in rebuilt.items()} == rows


@pytest.mark.parametrize(
    "cls", [c for c in EVENT_CLASSES if c.SENSITIVE], ids=lambda c: c.event_type
)
def test_events_stored_before_sealing_still_load(cls: type[DomainEvent]) -> None:
    """An event stored in clear (no `sealed`) loads as it was, with or without a key."""
    app, _, _ = sealed_site()
    for notification in app.recorder.select_notifications(start=1, limit=10_000):
        if not notification.topic.endswith(cls.__name__):
            continue
        event = app.mapper.to_domain_event(notification)
        plain = PydanticMapper(transcoder=app.mapper.transcoder)
        before = plain.to_stored_event(event)  # no sealer: in clear, as before this change
        assert b'"sealed":null' in before.state
        assert app.mapper.to_domain_event(before) == event
        return
    pytest.skip(f"the scenario records no {cls.event_type}")


def test_the_prosecution_feed_sends_the_consented_words_opened_and_no_ciphertext() -> None:
    app, keys, _ = sealed_site()
    feed = ProsecutionFeed(
        lambda *_: UUID(int=1),
        recipient_organisation="KCPAO",
        source="s",
        opener=PersonSealer(keys).open,
    )
    sent = [
        CloudEvent.from_json(o.value)
        for m in published(app)
        if m.type.startswith("org.lead.case.")
        for o in feed.outgoing(m.to_json())
        if o.topic == "lead.prosecution.v1"
    ]
    assert sent and all("sealed" not in m.data for m in sent)
    opened = repr([m.data for m in sent])
    assert SEALED not in opened and "theft 3" in opened  # a charge's description
