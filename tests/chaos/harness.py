"""One fault run: start the backend, drive commands, inject faults, settle, check, report."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.settings import Settings
from services.bootstrap import Container
from tests.chaos.checks import (
    LagMonitor,
    caught_up,
    check_commands,
    check_topic,
    compare_with_rebuild,
    max_position,
    stored_events,
)
from tests.chaos.faults import Fault, Fleet, Injector, Plan
from tests.chaos.load import Command, Lane, LoadOptions, Markers, start_lanes, stop_lanes
from tests.e2e.conftest import api_up
from tests.processes import wait_until


@dataclass
class Run:
    settings: Settings
    env: dict[str, str]  # the processes' environment
    container: Container
    tokens: dict[str, dict[str, str]]  # principal -> headers (tests/principals.py)
    seed: int
    kinds: tuple[str, ...]
    times: int  # each kind of fault this many times
    load_seconds: float  # at least; longer if the faults take longer
    load: LoadOptions = field(default_factory=LoadOptions)
    gap: tuple[float, float] = (3.0, 10.0)
    settle_timeout: float = 300.0
    shared_stack: bool = False  # compare only this run's rows with the rebuild
    full_disk: Path | None = None  # the event store's own file system, for `fill_disk`


def run(spec: Run) -> dict[str, Any]:
    settings, container = spec.settings, spec.container
    began = time.monotonic()
    rng = random.Random(spec.seed)
    plan = Plan.seeded(rng, spec.kinds, spec.times)
    plan.gap = spec.gap
    print(f"\nfault run: seed {spec.seed}; plan {plan.kinds}", flush=True)
    start = max_position(settings.dsn, container.events_table)
    fleet = Fleet(spec.env, settings.data_dir / "logs")
    monitor = LagMonitor(settings, [p.name for p in container.projections], container.events_table)
    base_url = f"http://{settings.api_host}:{settings.api_port}"
    markers = Markers()
    officer = spec.tokens["officer.reyes"]
    injector = Injector(settings, fleet, rng, plan, markers, officer, full_disk=spec.full_disk)
    lanes: list[Lane] = []
    try:
        wait_until(lambda: api_up(base_url), 90, "the API", tuple(fleet.procs.values()))
        monitor.start()
        load_began = time.monotonic()
        lanes = start_lanes(base_url, spec.tokens, spec.seed, spec.load, f"{spec.seed}", markers)
        injector.start()
        injector.join(spec.load_seconds + 600)
        time.sleep(max(3.0, spec.load_seconds - (time.monotonic() - load_began)))
        commands = stop_lanes(lanes) + injector.probes
        load_seconds = time.monotonic() - load_began
        print(f"  load stopped after {load_seconds:.0f}s; settling", flush=True)
        settle_began = time.monotonic()
        wait_until(lambda: caught_up(settings, container), spec.settle_timeout, "settling")
        settled_in = time.monotonic() - settle_began
    except BaseException:
        print("process timeline:", *fleet.timeline, sep="\n  ", flush=True)
        raise
    finally:
        stop_lanes(lanes)
        injector.stop()
        monitor.stop()
        fleet.stop()
    after = start if spec.shared_stack else 0  # a stack of its own: every event it holds
    events = stored_events(settings.dsn, container.events_table, after)
    findings = check_commands(commands, events, injector.pg_outages)
    topic = check_topic(settings.bootstrap_servers, events, after)
    keys = {e.aggregate for e in events} | {e.person for e in events if e.person}
    keys |= {str(c.body["case_manager"]) for c in commands if "case_manager" in c.body}
    rebuild = compare_with_rebuild(
        container, (lambda row: any(str(v) in keys for v in row)) if spec.shared_stack else None
    )
    attempts = [a for c in commands for a in c.attempts]
    outcomes = Counter(c.outcome for c in commands)
    summary: dict[str, Any] = {
        "seed": spec.seed,
        "seconds": {
            "load": round(load_seconds),
            "settle": round(settled_in, 1),
            "rebuild": rebuild.seconds,
            "total": round(time.monotonic() - began),
        },
        "commands": {
            "sent": len(commands),
            "accepted_2xx": outcomes["accepted"],
            "refused_4xx": outcomes["refused"],
            "unknown_5xx_or_no_answer": outcomes["unknown"],
            "unknown_found_stored": findings.unknown_stored,
            "unknown_not_stored": findings.unknown_not_stored,
            "by_kind": {
                kind: dict(Counter(c.outcome for c in commands if c.kind == kind))
                for kind in sorted({c.kind for c in commands})
            },
            "accepted_missing_from_store": len(findings.accepted_missing),
            "refused_yet_stored": len(findings.refused_with_effects),
            "recorded_twice": len(findings.recorded_twice),
        },
        "attempts": {
            "sent": len(attempts),
            "2xx": sum(1 for a in attempts if a.status is not None and a.status < 300),
            "4xx": sum(1 for a in attempts if a.status is not None and 400 <= a.status < 500),
            "5xx": sum(1 for a in attempts if a.status is not None and a.status >= 500),
            "no_answer": sum(1 for a in attempts if a.status is None),
            "replayed": sum(1 for a in attempts if a.replayed),
            "while_postgres_down": findings.outage_attempts,
            "while_postgres_down_2xx": len(findings.outage_accepted),
        },
        "probes_while_postgres_down": [
            (c.attempts[-1].status or c.attempts[-1].error) if c.attempts else None
            for c in injector.probes
        ],
        "faults": dict(Counter(f.kind for f in injector.faults)),
        "failed_attempts_near_fault": failures_near(commands, injector.faults),
        "fault_errors": injector.errors,
        "process_restarts": {"killed": dict(fleet.killed), "exited": dict(fleet.exited)},
        "process_timeline": fleet.timeline,  # which log is whose (in <data_dir>/logs)
        "fault_timeline": [
            f"{f.started - began:6.1f}s {f.kind} {f.detail} ({f.ended - f.started:.1f}s)"
            for f in injector.faults
        ],
        "events": {
            "stored": len(events),
            "on_topic_raw": topic.records,
            "on_topic_distinct": topic.distinct,
            "duplicates_on_topic": topic.duplicates,
            "lost": len(topic.lost),
            "on_topic_not_stored": topic.phantoms,
        },
        "projections": {
            "rows_compared_with_rebuild": rebuild.rows_compared,
            "duplicate_or_missing_effects": rebuild.rows_differing,
        },
        "lag": monitor.longest(injector.faults),
        "problems": {
            "accepted_missing": findings.accepted_missing[:5],
            "refused_with_effects": findings.refused_with_effects[:5],
            "recorded_twice": findings.recorded_twice[:5],
            "accepted_while_postgres_down": findings.outage_accepted[:5],
            "stored_while_postgres_down": findings.outage_stored[:5],
            "lost_positions": topic.lost[:10],
            "projection_differences": rebuild.differences[:10],
        },
    }
    return summary


def failures_near(commands: list[Command], faults: list[Fault]) -> dict[str, dict[str, int]]:
    """Attempts answered 5xx or not at all, by the fault they began during (or within 10 s
    after): which faults a client notices."""
    found: dict[str, Counter[str]] = {}
    for attempt in (a for c in commands for a in c.attempts):
        if attempt.status is not None and attempt.status < 500:
            continue
        near = [f for f in faults if f.started <= attempt.started <= (f.ended or f.started) + 10]
        kind = near[-1].kind if near else "none"
        found.setdefault(kind, Counter())["5xx" if attempt.status else "no_answer"] += 1
    return {kind: dict(counts) for kind, counts in sorted(found.items())}


def report(summary: dict[str, Any], path: Path | None = None) -> None:
    text = json.dumps(summary, indent=2, default=str)
    print(f"\nfault run summary:\n{text}", flush=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")


def assert_sound(summary: dict[str, Any], kinds: tuple[str, ...], times: int) -> None:
    commands, events, problems = summary["commands"], summary["events"], summary["problems"]
    assert summary["fault_errors"] == []
    assert all(summary["faults"].get(kind) == times for kind in kinds)
    assert commands["accepted_2xx"] > 0
    assert events["lost"] == 0, problems["lost_positions"]
    assert events["on_topic_not_stored"] == 0
    assert commands["accepted_missing_from_store"] == 0, problems["accepted_missing"]
    assert commands["refused_yet_stored"] == 0, problems["refused_with_effects"]
    assert commands["recorded_twice"] == 0, problems["recorded_twice"]
    assert summary["attempts"]["while_postgres_down_2xx"] == 0
    assert problems["stored_while_postgres_down"] == []
    assert summary["projections"]["duplicate_or_missing_effects"] == 0, problems[
        "projection_differences"
    ]
