"""The rebuild and scale benchmarks, on a long copied demo history in a stack of its own:
every view rebuilt from offset 0, and query p99 at 10,000 events and at the full history."""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from events.topics import EVENTS
from infra.kafka import security as kafka_security
from infra.local.processes import free_port
from services.tools.bench.measure import Figure, peak_mb, percentile, postmaster_pid, rate
from services.tools.bench.project import bare_consume


def history_settings(settings: Any) -> Any:
    """A stack of its own for the long history, on ports next to the bench stack's (or
    free ones, when another program holds those: a client's ephemeral port can)."""
    return settings.model_copy(
        update={
            "data_dir": settings.data_dir / "history",
            "kafka_port": free_port(settings.kafka_port + 1000),
            "kafka_controller_port": free_port(settings.kafka_controller_port + 1000),
            "kafka_brokers": 1,
            "pg_port": free_port(settings.pg_port + 1000),
            "consumer_group": f"{settings.consumer_group}-history",
        }
    )


def _query_p99(
    work: Callable[[psycopg.Connection[Any], Any], object], conn: Any, args: list[Any], n: int
) -> float:
    """p99 in milliseconds of `work` over `n` calls cycling through `args`, each argument
    asked once first (untimed): the figure is of a warm server, at either size."""
    for arg in args:
        work(conn, arg)
    took = []
    for i in range(n):
        started = time.perf_counter()
        work(conn, args[i % len(args)])
        took.append((time.perf_counter() - started) * 1000)
    return percentile(took, 0.99)


def _queries(container: Any, calls: int) -> dict[str, float]:
    """Caseload and prosecutor-view p99 (ms), as the API runs them, minus HTTP."""
    from psycopg.rows import dict_row

    from projections.caseloads import list_caseload
    from projections.liaison import queries as liaison
    from services.reads import liaison_case_view
    from services.tools.demo.site import LIAISON

    app = container.application
    now = datetime.now(UTC)
    with psycopg.connect(container.settings.dsn, row_factory=dict_row) as conn:
        managers = [
            r["case_manager"]
            for r in conn.execute(
                "SELECT DISTINCT case_manager FROM proj_caseloads.participants ORDER BY 1"
            ).fetchall()
        ]
        people = liaison.person_ids_in_view(conn)
        rnd = random.Random(3)  # noqa: S311  # which rows to ask for, not secrecy
        managers = rnd.sample(managers, min(50, len(managers)))
        people = rnd.sample(people, min(50, len(people)))
        return {
            "caseload": _query_p99(
                lambda c, m: list_caseload(c, m, now=now), conn, managers, calls
            ),
            "prosecutor view": _query_p99(
                lambda c, p: liaison_case_view(app, c, LIAISON, p), conn, people, calls
            ),
        }


def bench_history(container: Any, history: int, rounds: int, names: set[str]) -> list[Figure]:
    """`rebuild` (every view from offset 0 over `history` events, against the bare
    consumer reading the same topic) and `scale` (query p99 at 10,000 events of history
    and at `history`), on a copied demo site in a stack of its own."""
    from infra.local import stack

    settings = history_settings(container.settings)
    small = min(10_000, history)
    calls = 300 * rounds
    stack.destroy(settings)
    stack.up(settings)
    figures: list[Figure] = []
    try:
        with kafka_security.connecting_as(settings, "admin"):
            figures = _history_figures(settings, names, history, small, calls)
    finally:
        stack.destroy(settings)
    return figures


def _history_figures(
    settings: Any, names: set[str], history: int, small: int, calls: int
) -> list[Figure]:
    from infra.local.kafka import LocalKafka
    from infra.local.postgres import LocalPostgres
    from services.bootstrap import Container
    from services.tools.bench_history import BenchHistory, template

    figures: list[Figure] = []
    built = Container(settings)
    built.prepare()
    # 100 participants make about 4,300 events: a smaller site for a short history.
    site = template(settings.site_id, participants=max(10, min(100, history // 400)))
    history_of = BenchHistory(settings, site)
    history_of.append(small)
    built.rebuilder(*built.projections).run()
    at_small = _queries(built, calls)
    loaded = history_of.append(history - small)
    result = built.rebuilder(*built.projections).run()
    from infra.readside.status import end_offsets

    ends = {p: e for p, (_, e) in end_offsets(settings.bootstrap_servers).items()}
    bare = rate(history, functools.partial(bare_consume, settings.bootstrap_servers, {}, ends))
    at_large = _queries(built, calls)
    facts = _sizes(settings, history)
    facts.update(
        {
            "history_events": history,
            "rebuild_minutes": round(result.seconds / 60, 1),
            "load_seconds": round(loaded, 1),
            "kafka_peak_mb": peak_mb(LocalKafka(settings).pid()),
            "postmaster_peak_mb": peak_mb(postmaster_pid(LocalPostgres(settings).pgdata)),
            "bench_process_peak_mb": peak_mb(os.getpid()),
        }
    )
    if "rebuild" in names:
        figure = Figure(f"rebuild, {history:,} events", "events/s", goal=0.5, facts=facts)
        figure.backend.append(history / max(result.seconds, 1e-9))
        figure.baseline.append(bare)
        figures.append(figure)
    if "scale" in names:
        for query in at_small:
            figure = Figure(
                f"scale, {query} p99 ({history:,} vs {small:,})",
                "ms",
                goal=1.5,
                better="lower",
            )
            figure.backend.append(at_large[query])
            figure.baseline.append(at_small[query])
            figures.append(figure)
    return figures


def _sizes(settings: Any, events: int) -> dict[str, Any]:
    """On-disk bytes per event: the store (events and their chain) and the topic's log."""
    from infra.local.kafka import LocalKafka

    with psycopg.connect(settings.dsn) as conn:
        row = conn.execute(
            "SELECT pg_total_relation_size('lead_events'), pg_total_relation_size('event_chain')"
        ).fetchone()
    store, chain = (int(v) for v in row) if row else (0, 0)
    log = sum(
        f.stat().st_size
        for d in LocalKafka(settings).data.glob(f"{EVENTS}-*")
        for f in d.iterdir()
        if f.suffix == ".log"
    )
    return {
        "postgres_bytes_per_event": round((store + chain) / events),
        "postgres_chain_bytes_per_event": round(chain / events),
        "kafka_bytes_per_event": round(log / events),
    }
