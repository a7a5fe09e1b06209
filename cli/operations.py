"""Commands that run the engine or look at it: migrate, work, schedule, stats, dlq, serve."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import asdict
from typing import Any

import click
from tqdm.std import tqdm

from cli.main import emit_json, engine, json_option, main, print_table, settings
from common import stats
from common.db import migrate as migrate_database
from common.dlq import dlq_groups
from common.events import TransitionEvent, stream
from common.handlers.catalog import default_registry
from common.schedule import schedule_tick
from common.states import Status
from common.worker import TickOptions, work_tick
from functions.jobs_json import dlq_group_json

FINISHING = {Status.SUCCESS, Status.FAILED, Status.DLQ}  # an attempt ended
UNTIL_EMPTY_BUDGET_SECONDS = 24 * 3600.0


@main.command()
def migrate() -> None:
    """Create or upgrade the schema at DATABASE_URL (alembic upgrade head)."""
    migrate_database(settings().database_url)
    click.echo("migrated")


@main.command()
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), help="Seconds to work.")
@click.option("--until-empty", is_flag=True, help="Work until no job is due, with a progress bar.")
@click.option("--queue", "queues", multiple=True, help="Only this queue (repeatable).")
@json_option
def work(budget: float | None, until_empty: bool, queues: tuple[str, ...], as_json: bool) -> None:
    """Run a worker tick in the foreground: WORKER_BUDGET_SECONDS, or --budget, or until no
    job is due (--until-empty, at most --budget when given)."""
    config = settings()
    default = UNTIL_EMPTY_BUDGET_SECONDS if until_empty else config.worker_budget_seconds
    options = TickOptions.from_settings(
        config,
        worker_id=f"cli:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        budget_seconds=budget or default,
        queues=list(queues) or None,
    )
    if until_empty:
        options = TickOptions(**{**options.__dict__, "stop_when_idle": True})
    with engine().connect() as conn:
        due = stats.due_count(conn, list(queues) or None)
    with _Progress(due if until_empty else None) as listen:
        unsubscribe = stream.subscribe(listen)
        try:
            summary = work_tick(engine(), default_registry(), options)
        finally:
            stream.drain(5)
            unsubscribe()
    _report(summary.as_dict(), as_json)


class _Progress:
    """A bar that counts ended attempts, from the event stream (None: only for a summary)."""

    def __init__(self, total: int | None) -> None:
        self.bar = tqdm(total=total, unit="job", desc="work", disable=total is None)

    def __enter__(self) -> Any:
        return self.listen

    def __exit__(self, *_: object) -> None:
        self.bar.close()

    def listen(self, event: TransitionEvent) -> None:
        if event.from_status == Status.RUNNING and event.to_status in FINISHING:
            if self.bar.total is not None and self.bar.n >= self.bar.total:
                self.bar.total = self.bar.n + 1
            self.bar.update(1)


@main.command()
@json_option
def schedule(as_json: bool) -> None:
    """Run one schedule tick: promote due jobs, recover expired leases, prune old ones."""
    config = settings()
    summary = schedule_tick(
        engine(),
        budget_seconds=config.schedule_budget_seconds,
        retention_seconds=config.retention_seconds,
    )
    _report(asdict(summary), as_json)


@main.command(name="stats")
@json_option
def stats_command(as_json: bool) -> None:
    """Per queue: jobs by status, the oldest due job's age, the last hour."""
    with engine().connect() as conn:
        queues = stats.overview(conn)
    if as_json:
        emit_json({"queues": [asdict(q) for q in queues]})
        return
    columns = ("queue", *(s.value for s in Status), "oldest due s", "ok 1h", "failed 1h", "dlq 1h")
    rows = [
        [
            q.queue,
            *(f"{q.by_status[s]}{'+' if s in q.at_least else ''}" for s in Status),
            "" if q.oldest_due_age_seconds is None else f"{q.oldest_due_age_seconds:.1f}",
            str(q.succeeded_last_hour),
            str(q.failed_last_hour),
            str(q.dead_lettered_last_hour),
        ]
        for q in queues
    ]
    print_table(columns, rows)


@main.command()
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@json_option
def dlq(limit: int, as_json: bool) -> None:
    """The DLQ grouped by error fingerprint, largest group first. Retry or cancel a group with
    `skiplock retry --fingerprint F` / `skiplock cancel --fingerprint F`."""
    with engine().connect() as conn:
        groups = [dlq_group_json(group) for group in dlq_groups(conn, limit=limit)]
    if as_json:
        emit_json({"groups": groups})
        return
    columns = (
        "fingerprint",
        "type",
        "count",
        "first_seen",
        "last_seen",
        "sample_job_id",
        "pattern",
    )
    print_table(columns, [[str(g[c] if g[c] is not None else "") for c in columns] for g in groups])


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def serve(args: tuple[str, ...]) -> None:
    """The local stack (as ./local/start.sh): API, dashboard, cron, moto; see serve --help."""
    from local.stack import main as run_stack

    run_stack(list(args))


def _report(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(summary)
    else:
        click.echo(" ".join(f"{name}={value}" for name, value in summary.items()))
