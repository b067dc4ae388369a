"""requirements.lock, which `make install` and CI install from, against pyproject.toml:
every dependency pyproject declares is pinned there at a version it allows. A dependency
added, or a bound moved, without `make lock` fails here."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        Requirement(d) for d in project["dependencies"] + project["optional-dependencies"]["dev"]
    ]


def pinned() -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier  # one exact pin per package
        assert spec.operator == "==", line
        found[canonicalize_name(requirement.name)] = Version(spec.version)
    return found


def test_every_declared_dependency_is_pinned_at_a_version_pyproject_allows() -> None:
    pins = pinned()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {requirement.name}=={pins[name]}, outside "
            f"pyproject's {requirement.specifier}: run `make lock`"
        )


def test_the_extras_pyproject_asks_for_are_pinned_too() -> None:
    """`psycopg[binary,pool]`: the binary build and the pool, not psycopg alone."""
    pins = pinned()
    assert {"psycopg-binary", "psycopg-pool"} <= set(pins)


def test_the_lock_says_how_it_was_made_and_the_makefile_installs_from_it() -> None:
    assert "make lock" in (ROOT / "requirements.lock").read_text().splitlines()[1]
    makefile = (ROOT / "Makefile").read_text()
    assert "install -q -r requirements.lock" in makefile
    assert "install -q --no-deps -e ." in makefile
