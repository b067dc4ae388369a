"""The `lead` command line without servers: what it accepts, what it refuses before
connecting, its help, version and completion, and how it reports a server that is down."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import typer

from infra.settings import PROJECT_ROOT
from services.entrypoints.cli import main
from services.entrypoints.cli.main import app

# Every command and action the argparse CLI had: none may go missing.
ACTIONS = {
    "infra": {"up", "down", "status"},
    "relay": set(),
    "consumers": set(),
    "api": set(),
    "policy": {"adopt", "show"},
    "docs": set(),
    "projections": {"status", "rebuild"},
    "deadletter": {"list", "replay"},
    "demo": {"seed"},
    "principals": {"add", "list", "rotate", "revoke"},
    "kafka-clients": {"add", "list", "revoke"},
    "audit": {
        "verify",
        "checkpoint",
        "export",
        "verify-slice",
        "public-key",
        "trail",
        "replay",
    },
    "privacy": {"forget", "retain"},
    "keys": {"status", "rotate", "retire", "generate"},
    "bench": set(),
    "run": set(),
}
READS = {
    ("infra", "status"),
    ("policy", "show"),
    ("projections", "status"),
    ("deadletter", "list"),
    ("principals", "list"),
    ("kafka-clients", "list"),
    ("audit", "verify"),
    ("audit", "verify-slice"),
    ("audit", "trail"),
    ("audit", "replay"),
    ("keys", "status"),
    ("docs",),
}


def root() -> Any:
    return typer.main.get_command(app)


def command(*path: str) -> Any:
    found = root()
    for name in path:
        found = found.get_command(None, name)  # type: ignore[arg-type]
        assert found is not None, path
    return found


def parsed(*argv: str) -> dict[str, Any]:
    """The parameters `lead ARGV` gives its command (nothing runs)."""
    *path, rest = _split(argv)
    cmd = command(*path)
    return dict(cmd.make_context(path[-1], list(rest)).params)


def _split(argv: tuple[str, ...]) -> list[Any]:
    found = root()
    path: list[str] = []
    rest = list(argv)
    while rest and hasattr(found, "get_command") and found.get_command(None, rest[0]):
        found = found.get_command(None, rest[0])
        path.append(rest.pop(0))
    return [*path, rest]


def test_help_lists_every_command_and_each_group_every_action(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    for name, actions in ACTIONS.items():
        assert f"\n  {name} " in listed, name
        if actions:
            assert set(command(name).list_commands(None)) == actions, name  # type: ignore[arg-type]


def test_every_command_shows_an_example_in_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    for name, actions in ACTIONS.items():
        for path in [(name, a) for a in sorted(actions)] or [(name,)]:
            assert main([*path, "--help"]) == 0, path
            shown = capsys.readouterr().out
            assert "Example:" in shown and f"lead {' '.join(path)}" in shown, path


def test_every_read_command_offers_json() -> None:
    for path in READS:
        options = {o for p in command(*path).params for o in p.opts}
        assert "--json" in options, path


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"lead {metadata.version('lead-backend')}\n"


def test_the_shell_completion_script_is_shown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--show-completion", "bash"]) == 0
    assert "_LEAD_COMPLETE" in capsys.readouterr().out


def test_options_come_before_or_after_the_name_as_the_readme_writes_them() -> None:
    readme = parsed("principals", "add", "--role", "officer", "--org", "Seattle PD", "a.b")
    after = parsed("principals", "add", "a.b", "--org", "Seattle PD", "--role", "officer")
    assert readme == after
    assert (readme["name"], readme["role"].value, readme["org"]) == ("a.b", "officer", "Seattle PD")
    assert parsed("principals", "revoke", "--reason", "left", "a.b")["name"] == "a.b"
    assert parsed("policy", "adopt", "--principal", "p", "f.yaml")["file"] == Path("f.yaml")
    export = parsed("audit", "export", "--from", "3", "--to", "9", "s.jsonl")
    assert (export["start"], export["end"], export["file"]) == (3, 9, Path("s.jsonl"))
    check = parsed("audit", "verify-slice", "--public-key", "k.pem", "s.jsonl")
    assert (check["public_key"], check["file"]) == (Path("k.pem"), Path("s.jsonl"))
    rebuild = parsed("projections", "rebuild", "--as-of", "2026-01-01T00:00:00+00:00", "queue")
    assert rebuild["names"] == ["queue"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["principals", "add", "x.y", "--role", "officer", "--org", "O", "--valid-days", "0"],
            "0 is not between 1 and 3650",
        ),
        (["principals", "rotate", "x.y", "--valid-days", "3651"], "3651 is not between 1 and 3650"),
        (
            ["principals", "rotate", "x.y", "--valid-days", "soon"],
            "'--valid-days': Input should be a valid integer",
        ),
        (["principals", "revoke", "x.y", "--valid-days", "7"], "No such option: --valid-days"),
        (
            ["principals", "add", "x.y", "--role", "sheriff", "--org", "O"],
            "'sheriff' is not one of",
        ),
        (
            ["principals", "add", "a.b", "c.d", "--role", "officer", "--org", "O"],
            "unexpected extra",
        ),
        (["principals", "add", "--role", "officer", "--org", "O"], "Missing argument"),
        (["projections", "rebuild", "--as-of", "2026-01-01"], "needs a time zone"),
        (["audit", "trail", "--person", "nobody"], "is not a person id"),
        (["kafka-clients", "add", "x", "--kind", "everything", "--org", "O"], "'everything'"),
        (["nosuch"], "No such command"),
    ],
)
def test_bad_usage_exits_2_before_anything_connects(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert time.monotonic() - started < 2  # refused here, not after a connection timed out


def test_the_choices_are_the_domains_own() -> None:
    from events.access import KafkaClientKind
    from events.base import Role
    from services.entrypoints.cli.kafka_clients import Kind
    from services.entrypoints.cli.principals import GivenRole

    assert {r.value for r in GivenRole} == {r.value for r in Role} - {Role.SYSTEM.value}
    assert {k.value for k in Kind} == {k.value for k in KafkaClientKind}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once it is closed


def lead_without_servers(
    tmp_path: Path, *argv: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LEAD_ENVIRONMENT": "test",
        "LEAD_DATA_DIR": str(tmp_path / "lead"),
        "LEAD_PG_PORT": str(closed_port()),
        "LEAD_KAFKA_PORT": str(closed_port()),
        "LEAD_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "services.entrypoints.cli", *argv],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, time.monotonic() - started


@pytest.mark.parametrize(
    ("argv", "service"),
    [
        (["principals", "add", "officer.reyes", "--role", "officer", "--org", "SPD"], "PostgreSQL"),
        (["keys", "status"], "PostgreSQL"),
        (["deadletter", "list"], "Kafka"),
    ],
)
def test_a_server_that_is_down_is_one_line_and_exit_3_within_seconds(
    tmp_path: Path, argv: list[str], service: str
) -> None:
    done, took = lead_without_servers(tmp_path, *argv)
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"error: {service} could not be reached at 127.0.0.1:")
    assert took < 10, took
