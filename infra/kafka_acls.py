"""What each Kafka principal may do, as data, and `lead infra up` making it so.

`grants(settings)` is the one definition of every component's ACLs; `apply` creates each
component's SCRAM credential (once; the password stays in its 0600 file) and its ACLs
(idempotently: Kafka keeps an ACL once however often it is created), and `render_table`
writes the table `docs/security.md` shows (a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import dataclass

from events.topics import AUDIT, DEADLETTER, EVENTS, PROSECUTION
from infra.kafka_security import (
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
        "replay": (
            Grant("topic", DEADLETTER, READ),
            Grant("topic", EVENTS, WRITE),
            Grant("cluster", "kafka-cluster", ("IDEMPOTENT_WRITE",)),
        ),
    }


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


def render_table(settings: Settings | None = None) -> str:
    """The Markdown table of what each component's credential may do."""
    settings = settings or Settings(consumer_group="lead-projections")
    rows = ["| Credential | Resource | Name | Operations |", "|---|---|---|---|"]
    rows.append(f"| `{ADMIN_USER}` | cluster | everything | super user |")
    for component, granted in grants(settings).items():
        for grant in granted:
            name = f"`{grant.pattern_name}` (prefix)" if grant.prefixed else f"`{grant.name}`"
            rows.append(
                f"| `{principal_name(component)}` | {grant.resource} | {name} | "
                f"{', '.join(grant.operations)} |"
            )
    return "\n".join(rows) + "\n"
