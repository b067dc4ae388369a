"""Runs the benchmarks asked for and writes their figures (bench/results.json)."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from events.topics import EVENTS
from services.tools.bench.append import bench_append
from services.tools.bench.latency import bench_latency
from services.tools.bench.measure import Figure
from services.tools.bench.project import bench_project
from services.tools.bench.relay import bench_relay
from services.tools.bench.scale import bench_history
from services.tools.bench.wire import bench_wire

BENCHMARKS: dict[str, Callable[[Any, int, int], list[Figure]]] = {
    "append": bench_append,
    "relay": bench_relay,
    "project": bench_project,
    "wire": bench_wire,
    "latency": bench_latency,
}
HISTORY = ("rebuild", "scale")
"""Benchmarks over a long copied history (`bench_history`), run together."""
NAMES = (*BENCHMARKS, *HISTORY)


def machine(container: Any) -> dict[str, Any]:
    with psycopg.connect(container.settings.dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "postgresql": row[0] if row else None,
        "kafka_topic": EVENTS,
        "at": datetime.now(UTC).isoformat(),
    }


def run(
    container: Any,
    names: list[str],
    *,
    events: int,
    rounds: int,
    out: Path | None,
    history: int = 1_000_000,
) -> list[dict[str, Any]]:
    figures: list[Figure] = []
    for name in names:
        if name in BENCHMARKS:
            figures.extend(BENCHMARKS[name](container, events, rounds))
    if wanted := {n for n in names if n in HISTORY}:
        figures.extend(bench_history(container, history, rounds, wanted))
    summaries = [f.summary() for f in figures]
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "machine": machine(container),
                    "parameters": {
                        "events": events,
                        "history": history,
                        "rounds": rounds,
                        "benchmarks": names,
                    },
                    "figures": summaries,
                    "raw": [asdict(f) for f in figures],
                },
                indent=2,
            )
            + "\n"
        )
    return summaries
