"""The import direction, checked by import-linter's contracts in pyproject.toml: no module
imports from a layer above its own, not even inside a function (docs/architecture.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("events", "aggregates", "projections", "infra", "consumers", "services")
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--no-cache", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_of_the_code(into: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, into / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", into / "pyproject.toml")
    return into


def test_every_import_points_down() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        # an adapter reaching up for the composition root, hidden inside a function
        (
            "infra/kafka/relay.py",
            "def _planted() -> None:\n    from services.bootstrap import Container  # noqa\n",
            "infra.kafka.relay -> services.bootstrap",
        ),
        # a use case reaching up into the HTTP layer
        (
            "services/application.py",
            "from services.http import problems  # noqa\n",
            "services.application -> services.http.problems",
        ),
        # the PostgreSQL adapters reaching into the development stack
        (
            "infra/postgres/mapper.py",
            "from infra.local import processes  # noqa\n",
            "infra.postgres.mapper -> infra.local.processes",
        ),
        # an aggregate reading a projection: the two are independent
        (
            "aggregates/referral.py",
            "from projections import base  # noqa\n",
            "aggregates.referral -> projections.base",
        ),
    ],
)
def test_a_planted_upward_import_fails_the_check(
    tmp_path: Path, module: str, planted: str, broken: str
) -> None:
    root = copy_of_the_code(tmp_path)
    target = root / module
    target.write_text(target.read_text() + "\n\n" + planted)
    result = lint(root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken in result.stdout, result.stdout
