"""A short smoke run of every benchmark: it runs on the real stack and reports figures.
Speed is never asserted here (shared, noisy machines): `make bench` measures it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.bootstrap import Container
from services.tools.bench import measure, runner

pytestmark = pytest.mark.integration


def test_every_benchmark_runs_and_reports_backend_baseline_and_ratio(
    container: Container, tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    names = list(runner.NAMES)
    summaries = runner.run(container, names, events=60, rounds=1, out=out, history=1500)
    assert {s["name"].split(",")[0].split(" ")[0] for s in summaries} == set(names)
    for s in summaries:
        assert s["backend"]["median"] > 0 and s["baseline"]["median"] > 0, s
        assert s["ratio"]["median"] == pytest.approx(
            s["backend"]["median"] / s["baseline"]["median"]
        )
    facts = next(s["facts"] for s in summaries if s["name"].startswith("rebuild"))
    assert facts["history_events"] == 1500
    assert facts["postgres_bytes_per_event"] > 0 and facts["kafka_bytes_per_event"] > 0
    written = json.loads(out.read_text())
    assert written["parameters"]["events"] == 60
    assert written["machine"]["postgresql"]
    assert "ratio" in measure.table(summaries)
