"""The backend's processes under a supervisor, and the faults injected into them.

`Fleet` runs the API, the relay and the faust workers as `lead run` does, and
restarts any that exits (`services/entrypoints/supervisor.py`): a SIGKILLed process is back within
a second. `Injector` works through a seeded plan of faults at random moments: SIGKILL
of the relay, a worker or the API; a worker added to the group and removed again (two
rebalances); SIGKILL of the Kafka broker, and PostgreSQL stopped in immediate mode,
each restarted after a few seconds; the event store's disk full for a few seconds
(`fill_disk`: a tmpfs tablespace, see tests/chaos/conftest.py).

The first PostgreSQL outage lasts longer than the API waits for a connection (30 s),
so requests are answered while it is down; a probe sent then, never retried, must be
answered 5xx and recorded nowhere.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from infra.local.kafka import LocalKafka
from infra.local.postgres import LocalPostgres
from infra.settings import Settings
from tests.chaos.load import Command, LoadOptions, Markers, send
from tests.factories import referral_body
from tests.http import api_client
from tests.processes import Proc

KINDS = (
    "kill_relay",
    "kill_worker",
    "rebalance",
    "kill_api",
    "kill_kafka",
    "stop_postgres",
    "fill_disk",
)


class Fleet:
    """API, relay and workers; a process that exits is started again, as `lead run` does."""

    def __init__(self, env: dict[str, str], logs: Path, workers: int = 2) -> None:
        self.env = env
        self.logs = logs
        self.lock = threading.RLock()
        self.procs: dict[str, Proc] = {}
        self.killed: Counter[str] = Counter()  # by the injector, by slot kind
        self.exited: Counter[str] = Counter()  # on their own (a server they need went away)
        self.timeline: list[str] = []  # when each process started, and its log
        self.stopping = threading.Event()
        for slot in ["api", "relay", *(f"worker-{i}" for i in range(workers))]:
            self._start(slot)
        self.thread = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self.thread.start()

    def _start(self, slot: str, why: str = "start") -> None:
        name = "consumers" if slot.startswith("worker") else slot
        self.procs[slot] = Proc(name, self.env, self.logs)
        log = self.procs[slot].log.name
        self.timeline.append(f"{time.strftime('%H:%M:%S')} {why} {slot}: {log}")

    def _supervise(self) -> None:
        while not self.stopping.wait(0.5):
            with self.lock:
                for slot, proc in list(self.procs.items()):
                    if not proc.alive():
                        self.exited[kind_of(slot)] += 1
                        self._start(slot, f"exited ({proc.popen.returncode}), restart")

    def kill(self, slot: str) -> None:
        with self.lock:
            self.procs[slot].kill()
            self.killed[kind_of(slot)] += 1
            self._start(slot, "killed, restart")  # as the supervisor would, within 0.5 s

    def workers(self) -> list[str]:
        return sorted(s for s in self.procs if s.startswith("worker-") and s != "worker-extra")

    def add_worker(self) -> None:
        with self.lock:
            self._start("worker-extra", "add")

    def remove_worker(self) -> None:
        with self.lock:
            proc = self.procs.pop("worker-extra")
            self.timeline.append(f"{time.strftime('%H:%M:%S')} stop worker-extra")
        proc.stop()  # SIGTERM: it leaves the group, the others take its partitions

    def alive(self) -> bool:
        with self.lock:
            return all(p.alive() for p in self.procs.values())

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        with self.lock:
            for proc in self.procs.values():
                proc.stop()


def kind_of(slot: str) -> str:
    return "worker" if slot.startswith("worker") else slot


@dataclass
class Fault:
    kind: str
    started: float  # time.monotonic()
    ended: float = 0.0  # when the harness had undone it (restarted what it stopped)
    detail: str = ""


@dataclass
class Plan:
    kinds: list[str]
    gap: tuple[float, float] = (3.0, 10.0)  # seconds between faults
    downtime: tuple[float, float] = (2.0, 6.0)  # a server stays down this long
    extra_worker_for: tuple[float, float] = (4.0, 12.0)
    long_outage: float = 34.0  # the first PostgreSQL outage (0: none longer than `downtime`)

    @classmethod
    def seeded(cls, rng: random.Random, kinds: tuple[str, ...], times: int) -> Plan:
        planned = [kind for kind in kinds for _ in range(times)]
        rng.shuffle(planned)
        return cls(planned)


@dataclass
class Injector:
    settings: Settings
    fleet: Fleet
    rng: random.Random
    plan: Plan
    markers: Markers
    officer: dict[str, str]  # the probe's headers
    full_disk: Path | None = None  # a small file system holding the event store
    faults: list[Fault] = field(default_factory=list)
    probes: list[Command] = field(default_factory=list)
    pg_outages: list[tuple[float, float]] = field(default_factory=list)  # fully down
    errors: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, name="injector", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        for kind in self.plan.kinds:
            if self.stopping.wait(self.rng.uniform(*self.plan.gap)):
                return
            fault = Fault(kind, time.monotonic())
            self.faults.append(fault)
            print(f"  {time.strftime('%H:%M:%S')} fault {len(self.faults)}: {kind}", flush=True)
            try:
                getattr(self, kind)(fault)
            except Exception as exc:  # reported, and the run fails on it
                self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            fault.ended = time.monotonic()

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    def stop(self) -> None:
        """Stop after the fault under way, undone (a server stopped is started again)."""
        self.stopping.set()
        if self.thread.ident is not None:
            self.thread.join()

    # -- the faults ------------------------------------------------------------------------
    def kill_relay(self, fault: Fault) -> None:
        self.fleet.kill("relay")

    def kill_api(self, fault: Fault) -> None:
        self.fleet.kill("api")

    def kill_worker(self, fault: Fault) -> None:
        fault.detail = self.rng.choice(self.fleet.workers())
        self.fleet.kill(fault.detail)

    def rebalance(self, fault: Fault) -> None:
        self.fleet.add_worker()
        self.stopping.wait(self.rng.uniform(*self.plan.extra_worker_for))
        self.fleet.remove_worker()

    def kill_kafka(self, fault: Fault) -> None:
        LocalKafka(self.settings).kill()
        self.stopping.wait(self.rng.uniform(*self.plan.downtime))
        LocalKafka(self.settings).start()

    def stop_postgres(self, fault: Fault) -> None:
        first = not self.pg_outages
        downtime = self.rng.uniform(*self.plan.downtime)
        if first and self.plan.long_outage:
            downtime = self.plan.long_outage
        fault.detail = f"{downtime:.0f}s"
        pg = LocalPostgres(self.settings)
        pg.stop("immediate")
        down = time.monotonic()
        probe = threading.Thread(target=self.probe, args=(downtime - 1.0,))
        if first and self.plan.long_outage:
            probe.start()
        self.stopping.wait(downtime)
        self.pg_outages.append((down, time.monotonic()))
        if probe.ident is not None:
            probe.join()
        pg.start()

    def probe(self, timeout: float) -> None:
        """One referral while PostgreSQL is down, not retried."""
        command = Command.make(
            "probe-postgres-down", "/v1/referrals", referral_body(), "officer.reyes", self.markers
        )
        self.probes.append(command)
        base_url = f"http://{self.settings.api_host}:{self.settings.api_port}"
        with api_client(base_url, timeout=timeout) as client:
            send(client, self.officer, command, LoadOptions(retry_for=0))

    def fill_disk(self, fault: Fault) -> None:
        """Fill the event store's file system, then free it: writes fail while it is full."""
        if self.full_disk is None:
            raise RuntimeError("no file system of its own to fill (Run.full_disk)")
        filler = self.full_disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            chunk = b"\0" * (1 << 20)
            while True:
                os.write(fd, chunk)
        except OSError as exc:  # ENOSPC: full
            fault.detail = f"{exc.strerror} after {filler.stat().st_size >> 20} MiB"
        finally:
            os.close(fd)
        try:
            self.stopping.wait(self.rng.uniform(*self.plan.downtime))
        finally:
            filler.unlink()
