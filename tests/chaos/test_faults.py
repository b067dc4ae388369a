"""`make chaos`: minutes of commands through the API while every kind of fault strikes.

Each kind several times, at moments drawn from a seed (printed; `LEAD_CHAOS_SEED=N`
repeats a run's plan). Afterwards: every command answered 2xx has its events in the
store, a refused one has none, every stored event is on `lead.events.v1` (duplicates
allowed, counted), and every projection equals a rebuild from offset 0. The summary
goes to bench/faults.json.
"""

from __future__ import annotations

import os
import random

import pytest

from infra.settings import PROJECT_ROOT
from tests.chaos.conftest import ChaosStack
from tests.chaos.faults import KINDS
from tests.chaos.harness import Run, assert_sound, report, run
from tests.chaos.load import LoadOptions

pytestmark = pytest.mark.chaos

TIMES = 3  # each kind of fault


def test_nothing_lost_or_applied_twice_through_faults(chaos_stack: ChaosStack) -> None:
    seed = int(os.environ.get("LEAD_CHAOS_SEED") or random.SystemRandom().randrange(10**6))
    kinds = KINDS if chaos_stack.disk else tuple(k for k in KINDS if k != "fill_disk")
    summary = run(
        Run(
            settings=chaos_stack.settings,
            env=chaos_stack.env,
            container=chaos_stack.container,
            tokens=chaos_stack.tokens,
            seed=seed,
            kinds=kinds,
            times=TIMES,
            load_seconds=240,
            load=LoadOptions(lanes=3, pace=0.1),
            gap=(3.0, 10.0),
            full_disk=chaos_stack.disk,
        )
    )
    report(summary, PROJECT_ROOT / "bench" / "faults.json")
    assert_sound(summary, kinds, TIMES)
