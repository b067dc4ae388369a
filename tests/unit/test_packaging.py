"""The package as `pip install .` (not editable) installs it: its data files are in it,
and it keeps its data outside site-packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json
from infra.settings import Settings, PROJECT_ROOT
from infra.local.kafka import KAFKA_DIR
from services.policy_file import EXAMPLE_POLICY, load_policy
s = Settings()
print(json.dumps({
    "root": str(PROJECT_ROOT),
    "data_dir": str(s.data_dir),
    "cache_dir": str(s.cache_dir),
    "pom": (KAFKA_DIR / "pom.xml").is_file(),
    "log4j": (KAFKA_DIR / "log4j2.properties").is_file(),
    "policy": str(EXAMPLE_POLICY),
    "policy_loads": bool(load_policy(EXAMPLE_POLICY)),
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("lead_backend-*.whl")
    return built


def test_the_wheel_holds_the_packages_and_their_data_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in [
        "infra/kafka/pom.xml",
        "infra/kafka/log4j2.properties",
        "infra/policy/example-policy.yaml",
        "services/entrypoints/cli/main.py",
        "projections/evaluation/queries.py",
    ]:
        assert any(n.endswith(needed) for n in names), f"{needed} is not in the wheel"
    assert not any(n.startswith("tests/") for n in names)


def test_installed_it_keeps_its_data_in_the_users_data_directory(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEAD_", "XDG_"))} | {
        "PYTHONPATH": str(site),
        "HOME": str(home),
    }
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert Path(found["root"]) == site  # the installed copy, not the checkout
    assert found["data_dir"] == str(home / ".local" / "share" / "lead")
    assert found["cache_dir"] == str(home / ".cache" / "lead")
    assert found["pom"] and found["log4j"] and found["policy_loads"]
    assert Path(found["policy"]).is_relative_to(site)

    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    again = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(again.stdout)["data_dir"] == str(tmp_path / "xdg" / "lead")


def test_the_license_file_is_the_one_the_metadata_names(wheel: Path) -> None:
    """PEP 639: `License-Expression` from pyproject's `license`, and the LICENSE file,
    whose text is that license, shipped in the wheel."""
    with zipfile.ZipFile(wheel) as whl:
        (metadata,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        fields = whl.read(metadata).decode().split("\n\n", 1)[0].splitlines()
        shipped = [n for n in whl.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert shipped, "LICENSE is not in the wheel"
        text = whl.read(shipped[0]).decode()
    assert "License-Expression: Apache-2.0" in fields
    assert "License-File: LICENSE" in fields
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
