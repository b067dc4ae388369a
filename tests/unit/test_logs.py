"""Log lines as an operator's collector reads them (services/entrypoints/logs.py), and
progress that never writes a carriage return into a file (services/entrypoints/progress.py)."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from events import tracing
from services.entrypoints import logs
from services.entrypoints.progress import Progress


@pytest.fixture
def captured() -> io.StringIO:
    out = io.StringIO()
    config = logs.config("api", fmt="json")
    config["handlers"]["stderr"]["stream"] = out
    before = logging.getLogger().handlers[:], logging.getLogger().level
    logging.config.dictConfig(config)
    yield out
    root = logging.getLogger()
    root.handlers[:], root.level = before  # type: ignore[assignment]


def test_each_line_is_json_with_the_trace_id_of_the_command_being_handled(
    captured: io.StringIO,
) -> None:
    traceparent = tracing.new()
    with tracing.tracing(traceparent):
        logging.getLogger("lead.access").info("POST %s %d", "/v1/referrals", 201)
    logging.getLogger("lead.access").info("outside any request")
    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert first["message"] == "POST /v1/referrals 201"
    assert first["trace_id"] == tracing.trace_id(traceparent) and len(first["trace_id"]) == 32
    assert first["level"] == "INFO" and first["logger"] == "lead.access"
    assert first["process"] == "api" and first["time"]
    assert second["trace_id"] is None


def test_a_traceparent_is_taken_only_in_the_w3c_form() -> None:
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert tracing.valid(good) == good
    for bad in [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # a zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n",
        "' OR 1=1 --",
        "",
    ]:
        assert tracing.valid(bad) is None, bad
    assert tracing.valid(tracing.new()) is not None


def test_progress_into_a_file_is_log_lines_not_a_bar(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()  # not a terminal
    progress = Progress("rebuilding", stream=out)
    with caplog.at_level(logging.INFO, logger="lead.progress"):
        for done in range(0, 1001, 50):
            progress(done, 1000)
    assert out.getvalue() == ""
    lines = [r.getMessage() for r in caplog.records if r.name == "lead.progress"]
    assert lines[-1].startswith("rebuilding: done, 1000 in")
    assert 2 <= len(lines) <= 12  # every tenth, not every call
    assert not any("\r" in line for line in lines)


def test_progress_at_a_terminal_is_a_rich_bar() -> None:
    out = io.StringIO()
    progress = Progress("rebuilding", stream=out, terminal=True)
    for done in range(0, 1001, 250):
        progress(done, 1000)
    shown = out.getvalue()
    assert "rebuilding" in shown and "1000/1000" in shown
    assert "━" in shown  # rich's bar, not the old hand-drawn one
    assert shown.rstrip().endswith("s")  # "rebuilding: done in 0.0s"
