"""How every `lead` process logs: one JSON object per line (or plain text at a terminal),
each with the trace id of the command being handled when there is one.

`LEAD_LOG_FORMAT`: `json`, `text`, or `auto` (the default: text when stderr is a
terminal, JSON otherwise, so log files and collectors get JSON). Fields of a JSON line:
`time`, `level`, `logger`, `message`, `process` (the `lead` command), `trace_id` (when
set: events/tracing.py) and whatever the call passed in `extra`. What the backend logs
names no person: ids of people and records stay out of messages (the access log shows
route templates, never raw paths).
"""

from __future__ import annotations

import logging
import logging.config
import sys
from typing import Any

from events import tracing

NOISY = ("kafka", "aiokafka", "faust", "mode", "httpx", "uvicorn.error")


class TraceIds(logging.Filter):
    """Adds `trace_id` (of the command being handled here) and `process` to each record."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "trace_id"):
            record.trace_id = tracing.trace_id(tracing.current())
        record.lead_process = self.process
        return True


def config(process: str, *, level: str = "INFO", fmt: str = "auto") -> dict[str, Any]:
    """A `logging.config.dictConfig` for a `lead` process."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s %(lead_process)s",
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "lead_process": "process",
            },
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        }
        if use_json
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"trace": {"()": TraceIds, "process": process}},
        "formatters": {"lead": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "lead",
                "filters": ["trace"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            **{name: {"level": "WARNING"} for name in NOISY},
            # "group_id is None: disabling auto-commit." for every reader outside a group
            "kafka.coordinator.consumer": {"level": "ERROR"},
        },
    }


def configure(process: str, *, level: str = "INFO", fmt: str = "auto") -> None:
    logging.config.dictConfig(config(process, level=level, fmt=fmt))
