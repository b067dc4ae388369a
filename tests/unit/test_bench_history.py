"""The benchmark's copied history: a copy's derived ids are derived from its own values,
so the application finds a copied person's consents as it finds the original's."""

from __future__ import annotations

import json
import re
import uuid

from aggregates.consent_index import consent_index_id
from events.base import DomainEvent
from services.tools.bench_history import Template, remapper, template


def _people(site: Template, remap: object = None) -> set[str]:
    found: set[str] = set()
    for e in site.events:
        state = remap(e.state) if callable(remap) else e.state
        found.update(m.decode() for m in re.findall(rb'"person_id":"([0-9a-f-]{36})"', state))
    return found


def test_a_copy_keeps_every_derived_id_derivable_and_nothing_of_the_original() -> None:
    site = template("bench-test", participants=10, months=3)
    remap = remapper(1, site.derived)
    originals = {e.originator_id.decode() for e in site.events}
    copied = {remap(e.originator_id).decode() for e in site.events if not e.once}
    people, copied_people = _people(site), _people(site, remap)
    assert not (copied & originals) and not (copied_people & people)

    with_index = {p for p in people if str(consent_index_id(uuid.UUID(p))) in originals}
    copied_with_index = {p for p in copied_people if str(consent_index_id(uuid.UUID(p))) in copied}
    assert with_index  # the demo site records consents
    assert len(copied_with_index) == len(with_index)  # and each copy finds them

    for e in site.events:
        if e.once:
            continue
        message = json.loads(remap(e.message))
        new_id = remap(e.originator_id).decode()
        assert message["id"] == str(DomainEvent.event_id_of(new_id, e.originator_version))
