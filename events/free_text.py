"""Every text field of every event: sealed under the person's key, or in clear, and why.

A text field (`Text`, or any `str` that is not an enum) is either in its event class's
`SENSITIVE` paths, sealed with the person's data key before it is stored or published
(`infra.crypto.sealing`), or listed in `NOT_SEALED` here with the reason it may stay in clear.
`unclassified` finds a field in neither, and a unit test fails on it; `render` writes
``docs/sealed-fields.md`` from these lists (part of `lead docs`, checked by a test).

Paths are dotted; `*` stands for every item of a list (`charges.*.description`).
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Iterator
from enum import Enum
from typing import Any

from pydantic import BaseModel

from events.base import DomainEvent

BOOKKEEPING = frozenset({"originator_topic", "sealed", "traceparent"})
"""Fields that are not content: the aggregate's class name, the ciphertext itself."""

_STAFF = "a staff principal's name, not the participant's data; views and scopes key on it"
_ORGANISATION = "an organisation's name"
_POLICY = "the site's policy as the PCG adopted it: about no person"

COMMON: dict[str, str] = {
    "actor.principal": "who recorded the event: a staff principal, kept for accountability",
    "actor.organisation": "the recording principal's organisation",
}
"""Fields of every event that stay in clear."""

NOT_SEALED: dict[str, dict[str, str]] = {
    "referral.received": {
        "referrer.principal": _STAFF,
        "referrer.organisation": _ORGANISATION,
        "incident.offense_code": "a statute code: screening, the queue and metrics need it",
        "incident.nibrs_code": "a NIBRS offense code (at most 4 characters)",
        "person.race": "a self-reported category (HMIS answers): the de-identified equity "
        "figures count it, and counts must hold after a person is forgotten",
        "person.ethnicity": "a self-reported category (HMIS answers), as race",
        "person.gender": "a self-reported category (HMIS answers), as race",
        "facts.program_area": "one of the program areas the site's policy lists "
        "(screening matches it against that list)",
    },
    "referral.intake_deadline_lapsed": {
        "offense_code": "a statute code, as on the referral (the prosecutor's reference)"
    },
    "referral.warm_handoff_completed": {"case_manager": _STAFF},
    "referral.intake_scheduled": {"case_manager": _STAFF},
    "referral.intake_completed": {"case_manager": _STAFF},
    "participant.enrolled": {"case_manager": _STAFF},
    "participant.case_manager_assigned": {
        "case_manager": _STAFF,
        "previous_case_manager": _STAFF,
    },
    "participant.progress_summary_shared": {
        "recipient_organisation": _ORGANISATION + ": consent checks select on it",
    },
    "caseload.opened": {"case_manager": _STAFF + " (the event concerns no person)"},
    "case.opened": {
        "case_number": "the court's docket number: an identifier the court's and the "
        "prosecutor's systems match on",
        "court": "a court's name",
        "jurisdiction": "a jurisdiction's name",
        "charges.*.statute_code": "a statute code",
        "charges.*.nibrs_code": "a NIBRS offense code",
    },
    "case.warrant_issued": {
        "warrant_id": "the court's warrant number: an identifier (the row's key)",
        "court": "a court's name",
    },
    "case.warrant_quashed": {"warrant_id": "the court's warrant number: an identifier"},
    "case.hearing_scheduled": {"court": "a court's name"},
    "consent.granted": {
        "disclosing_party": _ORGANISATION + " (a 42 CFR 2.31 element)",
        "recipients.*.name": "an organisation's name or a role: every disclosure check "
        "matches on it",
    },
    "privacy.person_forgotten": {
        "reason": "the site's record, for auditors, of why a key was destroyed: sealed "
        "under that key it would be destroyed with it. It is staff's account of the "
        "erasure; it must not repeat the person's details (`lead privacy forget` says so)",
    },
    "principal.registered": {
        "name": "a principal's login name (staff or a system), no person's data",
        "organisation": _ORGANISATION,
        "token_sha256": "a token's hash: kept in the store only, published as null",
    },
    "principal.token_rotated": {
        "token_sha256": "a token's hash: kept in the store only, published as null",
    },
    "principal.revoked": {
        "reason": "why a staff principal's access ends: the event concerns no participant "
        "(it has no person, so no key to seal under)",
    },
    "principal_directory.listed": {"name": "a principal's login name"},
    "kafka_clients.granted": {
        "name": "an external system's Kafka user name, no person's data",
        "organisation": _ORGANISATION,
        "mechanism": "the SASL mechanism's name (a code)",
    },
    "kafka_clients.revoked": {
        "name": "an external system's Kafka user name, no person's data",
        "reason": "why a partner system's access ends: the event concerns no participant "
        "(it has no person, so no key to seal under)",
    },
    "key_ring.opened": {"current_key_id": "a master key's id (a fingerprint), not the key"},
    "key_ring.master_key_rotated": {
        "from_key_ids": "master key ids (fingerprints), not the keys",
        "to_key_id": "a master key's id (a fingerprint), not the key",
    },
    "key_ring.master_key_retired": {
        "key_id": "a master key's id (a fingerprint), not the key",
        "reason": "why the site retired a master key: concerns no participant",
    },
    "policy.adopted": {
        "terms.divertible_offenses.*.statute_code": _POLICY,
        "terms.divertible_offenses.*.description": _POLICY,
        "terms.divertible_offenses.*.nibrs_code": _POLICY,
        "terms.social_contact.program_areas": _POLICY,
    },
}
NOT_SEALED["policy.amended"] = dict(NOT_SEALED["policy.adopted"])


def _is_text(kind: Any) -> bool:
    return kind is str


def _models_and_text(kind: Any) -> Iterator[tuple[str, Any]]:
    """("text", None) for a text type, ("model", M) for a model, ("list", inner) for a list
    or tuple of one, found through unions, Optional and Annotated."""
    origin = typing.get_origin(kind)
    if _is_text(kind):
        yield "text", None
    elif isinstance(kind, type) and issubclass(kind, Enum):
        return  # a code from a closed list
    elif isinstance(kind, type) and issubclass(kind, BaseModel):
        yield "model", kind
    elif origin is typing.Annotated:
        yield from _models_and_text(typing.get_args(kind)[0])
    elif origin in (tuple, list):
        for arg in typing.get_args(kind):
            if arg is Ellipsis:
                continue
            for what, inner in _models_and_text(arg):
                yield ("list-text", None) if what == "text" else ("list-" + what, inner)
    elif origin is not None:  # a union
        for arg in typing.get_args(kind):
            yield from _models_and_text(arg)


def text_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The dotted paths of every text field of `model` (a list of text is one path, a
    list of models gives `*` paths), bookkeeping left out."""
    found: list[str] = []
    for name, info in model.model_fields.items():
        if not prefix and name in BOOKKEEPING:
            continue
        for what, inner in _models_and_text(info.annotation):
            if what in ("text", "list-text"):
                found.append(prefix + name)
            elif what == "model":
                found.extend(text_fields(inner, f"{prefix}{name}."))
            elif what == "list-model":
                found.extend(text_fields(inner, f"{prefix}{name}.*."))
    return sorted(set(found))


def _why_not_sealed(cls: type[DomainEvent], path: str) -> str | None:
    return COMMON.get(path) or NOT_SEALED.get(cls.event_type, {}).get(path)


def unclassified(classes: Iterable[type[DomainEvent]]) -> list[str]:
    """`event_type path` of every text field neither sealed nor listed as not sealed, every
    field both, and every listing that names no field (stale)."""
    problems: list[str] = []
    for cls in classes:
        fields = set(text_fields(cls))
        sealed = set(cls.SENSITIVE)
        for path in sorted(fields):
            listed = _why_not_sealed(cls, path) is not None
            if path in sealed and listed:
                problems.append(f"{cls.event_type} {path}: both sealed and listed as not sealed")
            elif path not in sealed and not listed:
                problems.append(f"{cls.event_type} {path}: neither sealed nor listed")
        for path in sorted(set(NOT_SEALED.get(cls.event_type, {})) - fields):
            problems.append(f"{cls.event_type} {path}: listed as not sealed, but no such field")
        for path in sorted(p for p in sealed - fields if not p.endswith("birth_date")):
            problems.append(f"{cls.event_type} {path}: sealed, but no such text field")
    known = {cls.event_type for cls in classes}
    problems += [
        f"{t}: listed as not sealed, but no such event" for t in NOT_SEALED if t not in known
    ]
    return problems


def sealed_paths(cls: type[DomainEvent]) -> list[str]:
    """The event's sealed text fields (SENSITIVE less what is not text, a birth date)."""
    fields = set(text_fields(cls))
    return [p for p in cls.SENSITIVE if p in fields]


def render(classes: Iterable[type[DomainEvent]]) -> str:
    """docs/sealed-fields.md."""
    classes = sorted(classes, key=lambda c: c.event_type)
    lines = [
        "# Sealed fields",
        "",
        "Generated from the event classes by `lead docs` (`events/free_text.py`); a unit",
        "test fails when this file is stale or when an event has a text field that is",
        "neither sealed nor listed here as not sealed, with the reason.",
        "",
        "A sealed field is encrypted with the person's data key (AES-256-GCM) into the",
        "event's `sealed` field before the event is stored; the events table, the hash",
        "chain and `lead.events.v1` hold only `[sealed]` in its place (`[]` for a list).",
        "The application and the views that show the field open it with the key",
        "(`reads_sealed`); `lead privacy forget` destroys the key, so every copy in the",
        "store and on the topic becomes unreadable, and each view erases what it had",
        "opened. `*` stands for every item of a list. The actor's name and organisation",
        "(`actor.principal`, `actor.organisation`) are on every event, in clear: who",
        "recorded it, for accountability.",
        "",
        "Events stored before a field was sealed keep it in clear (the store is",
        "append-only and hash-chained): they load unchanged, and forgetting cannot reach",
        "those copies. A birth date is sealed too (not text, so not in this list).",
        "",
        "| event | sealed under the person's key | in clear, and why |",
        "|---|---|---|",
    ]
    for cls in classes:
        sealed = sealed_paths(cls)
        clear = [
            (p, why)
            for p in text_fields(cls)
            if p not in COMMON and p not in cls.SENSITIVE
            for why in [_why_not_sealed(cls, p) or "NOT CLASSIFIED"]
        ]
        sealed_cell = "<br>".join(f"`{p}`" for p in sealed) or "-"
        clear_cell = "<br>".join(f"`{p}`: {why}" for p, why in clear) or "-"
        lines.append(f"| `{cls.event_type}` | {sealed_cell} | {clear_cell.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
