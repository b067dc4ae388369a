"""What a development stack does on its first start: adopt the example policy, register the
first administrator. `lead run` and the benchmarks call it; production adopts its own."""

from __future__ import annotations

from aggregates.base import SYSTEM_ACTOR, DomainError
from events.base import Role
from services.bootstrap import Container
from services.commands import AdoptPolicy
from services.policy_file import EXAMPLE_POLICY, load_policy
from services.principals import Principals


def adopt_example_policy(container: Container) -> None:
    """A development stack starts with the example policy, so referrals can be judged."""
    app = container.application
    try:
        app.get_policy()
    except DomainError:
        if container.settings.environment == "production":
            print("no site policy adopted yet: adopt it with `lead policy adopt FILE`")
            return
        app.adopt_policy(AdoptPolicy(terms=load_policy(EXAMPLE_POLICY)), SYSTEM_ACTOR)
        print(
            f"adopted the example site policy ({EXAMPLE_POLICY.name}); "
            "replace it with `lead policy adopt FILE`"
        )
    finally:
        app.close()


def first_administrator(container: Container) -> None:
    """A site with no principals gets one administrator, whose token is kept in a file
    only the operator can read; every other principal is added with `lead principals`."""
    principals = Principals(container.application)
    if principals.list():
        return
    issued = principals.add(
        actor=SYSTEM_ACTOR, name="site-admin", role=Role.ADMINISTRATOR, organisation="LEAD"
    )
    path = container.settings.data_dir / "site-admin.token"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(issued.token + "\n")
    print(
        f"registered the first administrator, site-admin; its token is in {path} "
        "(add others with `lead principals add NAME --role ROLE --org ORG`)"
    )
