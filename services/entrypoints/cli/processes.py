"""The long-running processes `lead run` supervises: the relay (with the notary), the
consumers, the API and the timers; and how each stops on a signal."""

from __future__ import annotations

import enum
import gc
import logging
import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from services.entrypoints.cli.shared import settings


def _stop_event(stop_within: float, what: str) -> threading.Event:
    """Set by SIGINT or SIGTERM, which also start the `stop_within` seconds the process
    has to stop cleanly before it exits anyway (a crash, which it is built to survive)."""
    from infra.local.processes import exit_unless_stopped_within

    stop = threading.Event()

    def _handler(signum: int, _frame: FrameType | None) -> None:
        if not stop.is_set():
            exit_unless_stopped_within(stop_within, what)
        stop.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    return stop


def _freeze_heap() -> None:
    """What a long-running process built at start-up lives as long as it does: moved out
    of the collector's sight, so a full collection walks only what came after (in the
    worker, full collections over the start-up heap paused it for 50-130 ms)."""
    gc.collect()
    gc.freeze()


def relay() -> None:
    """Publish stored events to Kafka, in order (the outbox relay), with the notary that
    signs checkpoints of the chain."""
    from infra.readside.metrics import serve
    from services.bootstrap import Container

    # keeps the application (and its connection pool) alive
    container = Container(settings(component="relay", quick=False))
    outbox = container.relay()
    found = container.settings
    serve(container.relay_metrics(outbox), found.metrics_host, found.relay_metrics_port)
    stop = _stop_event(container.settings.stop_within, "the relay")
    notary = threading.Thread(target=container.notary().run, args=(stop,), daemon=True)
    notary.start()
    _freeze_heap()
    try:
        outbox.run(stop)
    finally:
        stop.set()
        notary.join(timeout=10)
        outbox.producer.close(timeout=10)


LEVELS = {"crit": "CRITICAL", "error": "ERROR", "warn": "WARNING", "info": "INFO", "debug": "DEBUG"}


class LogLevel(enum.StrEnum):
    CRIT = "crit"
    ERROR = "error"
    WARN = "warn"
    INFO = "info"
    DEBUG = "debug"


def consumers(
    loglevel: Annotated[LogLevel, typer.Option(help="The workers' log level.")] = LogLevel.WARN,
) -> None:
    """Run the faust workers that feed the projections (one or more in one group)."""
    from consumers.worker import Worker
    from infra.readside.metrics import WorkerCounters, serve
    from services.bootstrap import Container

    # writes projections only (infra/postgres/roles.py)
    container = Container(settings(component="workers", quick=False), role="read")
    registry = container.process_metrics()
    faust_app = container.consumer_app(WorkerCounters(registry))
    found = container.settings
    serve(registry, found.metrics_host, found.consumer_web_port)
    worker = Worker(
        faust_app,
        stop_within=found.stop_within,
        loglevel=loglevel.value,
        quiet=True,
        override_logging=False,  # keeps the process's JSON lines (services/entrypoints/logs.py)
    )
    logging.getLogger().setLevel(LEVELS[loglevel.value])
    logging.getLogger("consumers").setLevel(logging.INFO)  # a line per batch, with its traces
    _freeze_heap()
    worker.execute_from_commandline()


def api(
    host: Annotated[str | None, typer.Option(help="Address to listen on (LEAD_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (LEAD_API_PORT).")] = None,
) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from services.bootstrap import Container

    found = settings(component="api", quick=False)
    served = Container(found).api()
    _freeze_heap()
    uvicorn.run(
        served,
        host=host or found.api_host,
        port=port or found.api_port,
        log_level="info",
        log_config=None,  # the process's own (services/entrypoints/logs.py), JSON lines
        access_log=False,  # its paths carry person ids: services/http/tracing.py logs instead
    )


def timers() -> None:
    """Record what time makes due (an intake deadline passed) by the server's clock, every
    LEAD_TIMERS_INTERVAL_SECONDS; any number of replicas record each once."""
    from services.bootstrap import Container

    container = Container(settings(component=None, quick=False))
    stop = _stop_event(container.settings.stop_within, "the timers")
    log = logging.getLogger("services.timers")
    log.setLevel(logging.INFO)
    log.info(
        "timers every %.0f s, site time zone %s",
        container.settings.timers_interval_seconds,
        container.settings.site_timezone,
    )
    try:
        container.timers().run(stop, container.settings.timers_interval_seconds)
    finally:
        container.application.close()


def register(root: typer.Typer) -> None:
    """`relay`, `consumers`, `api` and `timers`: one process each, as deployed (`lead run`
    starts them)."""
    root.command(epilog="Example:\n\n\b\n  lead relay")(relay)
    root.command(epilog="Example:\n\n\b\n  lead consumers --loglevel info")(consumers)
    root.command(epilog="Example:\n\n\b\n  lead api --port 8000")(api)
    root.command(epilog="Example:\n\n\b\n  LEAD_TIMERS_INTERVAL_SECONDS=10 lead timers")(timers)
