"""External Kafka clients (a prosecutor's case system, a dashboard, an auditor's tools):
issue a credential with its kind's ACLs, list, revoke; each grant and revocation an event.

The broker is changed first and the event recorded after: a grant that fails on the
brokers records nothing (and can be tried again under the same name); one whose
recording fails is taken back off the brokers. A revocation removes the ACLs and the
credential, then records; removing is idempotent, so a revocation interrupted between
the two is finished by running it again.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from aggregates.kafka_clients import KafkaClient, KafkaClientRegister, register_id
from events.access import KAFKA_CLIENT_NAME, KafkaClientKind
from events.base import Actor
from infra.kafka.acls import Grant, client_grants, grant_client, revoke_client
from infra.settings import Settings
from services.application import LeadApplication
from services.errors import NotFoundError


@dataclass(frozen=True)
class IssuedKafkaClient:
    name: str
    kind: KafkaClientKind
    password: str  # shown once
    grants: tuple[Grant, ...]


@dataclass(frozen=True)
class Broker:
    """The brokers' side of a grant; the defaults change the real cluster."""

    grant: Callable[[Settings, str, str, tuple[Grant, ...]], None] = grant_client
    revoke: Callable[[Settings, str], None] = revoke_client


class KafkaClients:
    def __init__(
        self, application: LeadApplication, settings: Settings, broker: Broker | None = None
    ) -> None:
        self.app = application
        self.settings = settings
        self.broker = broker or Broker()

    def _register(self, actor: Actor) -> KafkaClientRegister:
        found = self.app._find(register_id(self.app.site_id))
        if isinstance(found, KafkaClientRegister):
            return found
        return KafkaClientRegister.open(site_id=self.app.site_id, actor=actor)

    def add(
        self, *, actor: Actor, name: str, kind: KafkaClientKind, organisation: str
    ) -> IssuedKafkaClient:
        if not re.fullmatch(KAFKA_CLIENT_NAME, name):
            raise ValueError(
                "name: 2 to 63 lower-case letters, digits, '.' and '-', starting with a "
                "letter or digit (it is the Kafka user and its consumer groups' prefix)"
            )
        if name.startswith("lead-"):
            raise ValueError("name: lead-* names are the backend's own components")
        register = self._register(actor)
        mechanism = self.settings.kafka_sasl_mechanism
        register.grant(
            actor=actor, name=name, kind=kind, organisation=organisation, mechanism=mechanism
        )  # refuses a name already taken, before anything changes on the brokers
        password = secrets.token_urlsafe(32)
        grants = client_grants(kind, name)
        self.broker.grant(self.settings, name, password, grants)
        try:
            self.app._save(register)
        except BaseException:
            self.broker.revoke(self.settings, name)
            raise
        return IssuedKafkaClient(name, kind, password, grants)

    def revoke(self, *, actor: Actor, name: str, reason: str) -> KafkaClient:
        register = self._register(actor)
        if name not in register.clients:
            raise NotFoundError(f"no Kafka client named {name!r}")
        register.revoke(actor=actor, name=name, reason=reason)
        self.broker.revoke(self.settings, name)
        self.app._save(register)
        return register.clients[name]

    def list(self) -> list[KafkaClient]:
        found = self.app._find(register_id(self.app.site_id))
        if not isinstance(found, KafkaClientRegister):
            return []
        return [found.clients[name] for name in sorted(found.clients)]
