"""`lead run`: the whole backend in the foreground; Ctrl-C stops everything it started.

Children (API, relay, consumers) are separate processes, as in production; one that
dies is restarted, so a crash costs a few seconds, never an event.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

from infra import stack
from infra.bootstrap import Container
from infra.processes import ends_with_parent, terminate
from infra.settings import Settings

CHILDREN = ("api", "relay", "consumers")


def _spawn(name: str, settings: Settings) -> subprocess.Popen[bytes]:
    log = settings.data_dir / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", name],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=ends_with_parent(),
        )


def adopt_example_policy(container: Container) -> None:
    """A development stack starts with the example policy, so referrals can be judged."""
    from aggregates.base import SYSTEM_ACTOR, DomainError
    from services.commands import AdoptPolicy
    from services.policy_file import EXAMPLE_POLICY, load_policy

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
    from aggregates.base import SYSTEM_ACTOR
    from events.base import Role
    from services.principals import Principals

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
        "(add others with `lead principals add --role ROLE --org ORG NAME`)"
    )


def seed_demo(container: Container, participants: int, months: int) -> None:
    """Seed a synthetic site, only into an empty store (never on top of real data)."""
    from services.demo import seed_site
    from services.progress import Progress

    app = container.application
    try:
        if (app.recorder.max_notification_id() or 0) > 0:
            print("the store already holds events: not seeding demo data")
            return
        seed_site(
            app,
            participants=participants,
            months=months,
            progress=Progress(f"seeding a demo site of {participants} participants"),
        )
    finally:
        app.close()


def run(settings: Settings, demo: tuple[int, int] | None = None) -> int:
    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    print("starting PostgreSQL and Kafka ...", flush=True)
    state = stack.up(settings)
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        container = Container(settings)
        container.prepare()
        if demo is not None and settings.environment != "production":
            seed_demo(Container(settings), *demo)
        first_administrator(container)
        adopt_example_policy(container)
        for name in CHILDREN:
            children[name] = _spawn(name, settings)
        base = f"http://{settings.api_host}:{settings.api_port}"
        print(
            "\n".join(
                [
                    "LEAD backend is running:",
                    f"  API            {base}/v1/referrals",
                    f"  OpenAPI docs   {base}/docs   (schema {base}/openapi.json)",
                    f"  Kafka          {settings.bootstrap_servers}",
                    f"  PostgreSQL     {settings.dsn_redacted}",
                    f"  logs           {settings.data_dir / 'logs'}",
                    "Press Ctrl-C to stop.",
                ]
            ),
            flush=True,
        )
        while not stopping:
            for name, proc in list(children.items()):
                if proc.poll() is not None and not stopping:
                    print(f"{name} exited with {proc.returncode}; restarting", flush=True)
                    children[name] = _spawn(name, settings)
            time.sleep(0.5)
    finally:
        print("stopping ...", flush=True)
        for proc in children.values():
            terminate(proc.pid, timeout=20)
            proc.wait()
        stack.down(settings, state)
        print("stopped; data kept in", settings.data_dir, flush=True)
    return 0
