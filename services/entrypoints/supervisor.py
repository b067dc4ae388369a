"""`lead run`: the whole backend in the foreground; Ctrl-C stops everything it started.

Children (API, relay, consumers, timers) are separate processes, as in production; one that
dies is restarted, so a crash costs a few seconds, never an event.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

from infra.local import stack
from infra.local.processes import ends_with_parent, terminate
from infra.settings import Settings
from services.bootstrap import Container
from services.entrypoints.progress import Progress
from services.tools.demo.steps import seed_site
from services.tools.first_start import adopt_example_policy, first_administrator

CHILDREN = ("api", "relay", "consumers", "timers")


def _spawn(name: str, settings: Settings) -> subprocess.Popen[bytes]:
    log = settings.data_dir / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.entrypoints.cli", name],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=ends_with_parent(),
        )


def seed_demo(container: Container, participants: int, months: int) -> None:
    """Seed a synthetic site, only into an empty store (never on top of real data)."""
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
