"""What each Kafka principal may do, as data, and `lead infra up` making it so.

`grants(settings)` is the one definition of every component's ACLs; `apply` creates each
component's SCRAM credential (once; the password stays in its 0600 file) and its ACLs
(idempotently: Kafka keeps an ACL once however often it is created). The table
`docs/security.md` shows is written from this data by services/contracts/security_tables.py
(a test keeps the two equal).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from events.access import KafkaClientKind
from events.topics import AUDIT, DEADLETTER, EVENTS, PROSECUTION
from infra.kafka.security import (
    ADMIN_USER,
    COMPONENTS,
    auth_for,
    ensure_local_password,
    principal_name,
)
from infra.settings import Settings

PROJECTIONS_PREFIX = "lead.projections."


@dataclass(frozen=True)
class Grant:
    """`operations` on one resource: a topic, a consumer group or the cluster; a name
    ending in ``*`` is a prefix."""

    resource: str  # "topic", "group", "cluster", "transactional-id"
    name: str
    operations: tuple[str, ...]

    @property
    def prefixed(self) -> bool:
        return self.name.endswith("*")

    @property
    def pattern_name(self) -> str:
        return self.name.removesuffix("*")


READ = ("READ", "DESCRIBE")
WRITE = ("WRITE", "DESCRIBE")


def grants(settings: Settings) -> dict[str, tuple[Grant, ...]]:
    """Every component's grants (admin is the super user and needs none)."""
    group = settings.consumer_group
    return {
        "relay": (
            Grant("topic", EVENTS, ("READ", "WRITE", "DESCRIBE")),
            Grant("topic", AUDIT, WRITE),  # the notary's signed chain checkpoints
            Grant("cluster", "kafka-cluster", ("IDEMPOTENT_WRITE",)),
        ),
        "workers": (
            Grant("topic", EVENTS, READ),
            Grant("topic", PROSECUTION, WRITE),
            Grant("topic", AUDIT, ("READ", "WRITE", "DESCRIBE")),
            Grant("topic", DEADLETTER, WRITE),
            Grant("topic", PROJECTIONS_PREFIX + "*", WRITE),
            Grant("group", group + "*", READ),
            Grant("cluster", "kafka-cluster", ("IDEMPOTENT_WRITE",)),
        ),
        "api": (
            Grant("topic", EVENTS, READ),
            Grant("topic", PROJECTIONS_PREFIX + "*", READ),
            Grant("topic", AUDIT, WRITE),  # disclosure records
            Grant("cluster", "kafka-cluster", ("IDEMPOTENT_WRITE",)),
        ),
        "replay": (  # infra/kafka/deadletters.py REPLAYABLE: what can be dead-lettered
            Grant("topic", DEADLETTER, READ),
            Grant("topic", EVENTS, WRITE),
            Grant("topic", AUDIT, WRITE),
            Grant("cluster", "kafka-cluster", ("IDEMPOTENT_WRITE",)),
        ),
    }


def client_grants(kind: KafkaClientKind, name: str) -> tuple[Grant, ...]:
    """An external client's grants: its kind's topics, read only, and consumer groups
    named `name` or starting `name.`, nobody else's."""
    topics = {
        KafkaClientKind.PROSECUTION: (Grant("topic", PROSECUTION, READ),),
        KafkaClientKind.DASHBOARD: (Grant("topic", PROJECTIONS_PREFIX + "*", READ),),
        KafkaClientKind.AUDITOR: (Grant("topic", AUDIT, READ),),
    }[kind]
    return (*topics, Grant("group", name, READ), Grant("group", f"{name}.*", READ))


def _acls(principal: str, granted: tuple[Grant, ...]) -> list[object]:
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    kinds = {
        "topic": ResourceType.TOPIC,
        "group": ResourceType.GROUP,
        "cluster": ResourceType.CLUSTER,
        "transactional-id": ResourceType.TRANSACTIONAL_ID,
    }
    made: list[object] = []
    for grant in granted:
        pattern = ResourcePattern(
            kinds[grant.resource],
            grant.pattern_name,
            ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL,
        )
        for operation in grant.operations:
            made.append(
                ACL(
                    principal=f"User:{principal}",
                    host="*",
                    operation=ACLOperation[operation],
                    permission_type=ACLPermissionType.ALLOW,
                    resource_pattern=pattern,
                )
            )
    return made


def apply(settings: Settings) -> None:
    """Each local component's SCRAM credential and ACLs (idempotent)."""
    from kafka.admin import KafkaAdminClient, UserScramCredentialUpsertion

    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="lead-admin",
        **auth_for(settings, "admin").kafka_python(),
    )
    try:
        have = set(admin.describe_user_scram_credentials())
        new = []
        for component in COMPONENTS:
            user = principal_name(component)
            password = ensure_local_password(settings, user)
            if user not in have and user != ADMIN_USER:
                new.append(
                    UserScramCredentialUpsertion(user, settings.kafka_sasl_mechanism, password)
                )
        if new:
            failed = {u: e for u, e in admin.alter_user_scram_credentials(new).items() if e}
            if failed:
                raise RuntimeError(f"creating Kafka credentials failed: {failed}")
        acls = [
            acl
            for component, granted in grants(settings).items()
            for acl in _acls(principal_name(component), granted)
        ]
        result = admin.create_acls(acls)
        if result["failed"]:
            raise RuntimeError(f"creating Kafka ACLs failed: {result['failed']}")
    finally:
        admin.close()


def _admin(settings: Settings) -> Any:
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="lead-admin",
        request_timeout_ms=15_000,
        **auth_for(settings, "admin").kafka_python(),
    )


def grant_client(settings: Settings, name: str, password: str, granted: tuple[Grant, ...]) -> None:
    """Create (or replace) `name`'s SCRAM credential and its ACLs."""
    from kafka.admin import UserScramCredentialUpsertion

    admin = _admin(settings)
    try:
        upsert = UserScramCredentialUpsertion(name, settings.kafka_sasl_mechanism, password)
        failed = {u: e for u, e in admin.alter_user_scram_credentials([upsert]).items() if e}
        if failed:
            raise KafkaAccessError(f"creating the Kafka credential of {name} failed: {failed}")
        result = admin.create_acls(_acls(name, granted))
        if result["failed"]:
            raise KafkaAccessError(f"creating the ACLs of {name} failed: {result['failed']}")
    finally:
        admin.close()
    _wait_until_effective(settings, name, password)


def _wait_until_effective(settings: Settings, name: str, password: str, within: float = 30) -> None:
    """Until the new credential authenticates and sees a topic: the brokers take a new
    credential and new ACLs from the metadata log a moment after they are created, and
    a client told its password should not meet a refusal."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    admin_auth = auth_for(settings, "admin")
    kwargs = {
        "request_timeout_ms": 5000,
        "bootstrap_timeout_ms": 5000,
        **admin_auth.kafka_python(),  # a command's own connect timeout, when it has one
        "sasl_plain_username": name,
        "sasl_plain_password": password,
    }
    deadline = time.monotonic() + within
    while True:
        try:
            client = KafkaAdminClient(
                bootstrap_servers=settings.bootstrap_servers,
                **kwargs,
            )
            try:
                if any(t["error_code"] == 0 for t in client.describe_topics()):
                    return
            finally:
                client.close()
        except KafkaError:
            pass
        if time.monotonic() > deadline:
            raise KafkaAccessError(f"the brokers did not start accepting {name} in {within:.0f} s")
        time.sleep(0.5)


def revoke_client(settings: Settings, name: str) -> None:
    """Remove every ACL of `User:name` and its SCRAM credential (idempotent): its next
    request is refused, on a connection already open as well as on a new one."""
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
        UserScramCredentialDeletion,
    )

    admin = _admin(settings)
    try:
        everything = ACLFilter(
            principal=f"User:{name}",
            host=None,
            operation=ACLOperation.ANY,
            permission_type=ACLPermissionType.ANY,
            resource_pattern=ResourcePatternFilter(
                ResourceType.ANY, None, ACLResourcePatternType.ANY
            ),
        )
        for _filter, _deleted, error in admin.delete_acls([everything]):
            if error is not None and int(getattr(error, "errno", 0) or 0):
                raise KafkaAccessError(f"removing the ACLs of {name} failed: {error}")
        if name in set(admin.describe_user_scram_credentials()):
            deletion = UserScramCredentialDeletion(name, settings.kafka_sasl_mechanism)
            failed = {u: e for u, e in admin.alter_user_scram_credentials([deletion]).items() if e}
            if failed:
                raise KafkaAccessError(f"removing the credential of {name} failed: {failed}")
    finally:
        admin.close()


class KafkaAccessError(RuntimeError):
    """The brokers refused or failed to change a credential or its ACLs."""
