"""What every benchmark measures with: a `Figure` of backend and baseline rounds, rates,
percentiles, peak memory and CPU of a process, and the table the figures print as."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    name: str
    unit: str
    backend: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    goal: float | None = None  # the ratio backend / baseline to reach
    better: str = "higher"  # "lower" for latencies: the goal is then a maximum
    facts: dict[str, Any] = field(default_factory=dict)  # printed beside it (sizes, memory)

    @property
    def ratios(self) -> list[float]:
        return [b / r for b, r in zip(self.backend, self.baseline, strict=True) if r]

    def summary(self) -> dict[str, Any]:
        def spread(values: list[float]) -> dict[str, float]:
            return {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
            }

        return {
            "name": self.name,
            "unit": self.unit,
            "backend": spread(self.backend),
            "baseline": spread(self.baseline),
            "ratio": spread(self.ratios),
            "goal": self.goal,
            "better": self.better,
            "rounds": len(self.backend),
            "facts": self.facts,
        }


def rate(count: int, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return count / max(time.perf_counter() - started, 1e-9)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def peak_mb(pid: int | None) -> float | None:
    """A process's peak resident memory (VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def cpu_seconds(pid: int | None, *, children: bool = False) -> float:
    """CPU time (user + system) a process has used so far; with `children`, plus that
    of its live child processes (PostgreSQL's backends)."""
    if pid is None:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        this, parent = int(stat.parent.name), int(fields[1])
        if this == pid or (children and parent == pid):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def table(summaries: list[dict[str, Any]]) -> str:
    lines = [
        f"{'benchmark':34} {'backend':>12} {'baseline':>12} {'ratio':>7} "
        f"{'spread':>13} {'goal':>6}",
    ]
    for s in summaries:
        ratio = s["ratio"]
        sign = "<=" if s.get("better") == "lower" else ">="
        goal = f"{sign}{s['goal']}" if s["goal"] is not None else ""
        lines.append(
            f"{s['name']:34} {s['backend']['median']:>10.1f}{s['unit'][:2]:2} "
            f"{s['baseline']['median']:>10.1f}{s['unit'][:2]:2} "
            f"{ratio['median']:>7.2f} {ratio['min']:>6.2f}-{ratio['max']:<6.2f} {goal:>6}"
        )
    for s in summaries:
        if s.get("facts"):
            facts = ", ".join(f"{k} {v}" for k, v in s["facts"].items())
            lines.append(f"  {s['name']}: {facts}")
    return "\n".join(lines)
