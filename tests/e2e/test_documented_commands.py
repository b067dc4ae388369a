"""Every shell block of README.md and docs/*.md, run verbatim against a running backend
(API, relay and consumers as processes, on a Kafka and PostgreSQL of this module's own),
as a reader would paste it into bash from the checkout: `.venv/bin` first on PATH, the
documented default addresses rewritten to the stack's (tests/documented_commands.py
ADDRESSES), curl failing on an HTTP error. One test per block, named by file:line; the
blocks that cannot run here are skipped with the reason (tests/documented_commands.py
SKIPPED). A failure is a document to fix, not this test."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.settings import PROJECT_ROOT, Settings
from tests.conftest import own_stack, subprocess_env
from tests.documented_commands import PRELUDE, Block, for_stack, shell_blocks, skip_reason
from tests.e2e.conftest import running_backend

pytestmark = pytest.mark.e2e

BLOCK_TIMEOUT = 300  # seconds; a key rotation and a full `lead audit verify` take the longest


@dataclass
class Walk:
    settings: Settings
    env: dict[str, str]
    cwd: Path


def checkout_like(scratch: Path, data_dir: Path) -> Path:
    """A folder that looks like the checkout to the blocks (`.venv/bin/lead`,
    `infra/policy/...`, `.lead/` the stack's data) while the files they write
    (referral.json, ...) stay out of it."""
    (scratch / ".venv").symlink_to(Path(sys.prefix))
    (scratch / ".lead").symlink_to(data_dir)
    for entry in PROJECT_ROOT.iterdir():
        if entry.name not in {".venv", ".lead", ".git"}:
            (scratch / entry.name).symlink_to(entry)
    return scratch


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    with own_stack("documented-commands", 300) as (own, own_env):
        env = subprocess_env(**own_env)
        env["PATH"] = f"{Path(sys.prefix) / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        cwd = checkout_like(tmp_path_factory.mktemp("checkout"), own.data_dir)
        with contextlib.contextmanager(running_backend)(own, **own_env):
            yield Walk(own, env, cwd)


CASES = [
    pytest.param(
        block,
        id=block.where,
        marks=[pytest.mark.skip(reason=f"{block.where}: {reason}")]
        if (reason := skip_reason(block))
        else [],
    )
    for block in shell_blocks()
]


@pytest.mark.parametrize("block", CASES)
def test_documented_block_runs_verbatim(block: Block, walk: Walk) -> None:
    script = PRELUDE + for_stack(block.script, walk.settings)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=walk.cwd,
        env=walk.env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (
        f"{block.where} exited {done.returncode}\n--- ran\n{script}\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )
