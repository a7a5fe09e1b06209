"""Commands on jobs: submit, bulk, list, show, retry, cancel. Each request is checked by the
API's own parsing (functions/), so the rules and the errors are the API's."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import IO, Any

import click
from tqdm.std import tqdm

from cli.main import emit_json, engine, json_option, main, print_table
from common.enqueue import NewJob, enqueue, enqueue_many
from common.errors import NotFound, ValidationError
from common.handlers.catalog import default_registry as registry
from common.maintenance import JobFilter, cancel_jobs, retry_jobs
from common.queries import attempt_history, get_job, list_jobs
from functions.jobs_json import attempt_json, job_json
from functions.list_jobs import DEFAULT_LIMIT, MAX_LIMIT, parse_status
from functions.submit_job import MAX_BULK_JOBS, parse_new_job
from functions.update_jobs import parse_filter

LIST_COLUMNS = ("id", "status", "queue", "type", "attempts", "created_at", "last_error")


@main.command()
@click.argument("job_type", metavar="TYPE")
@click.option("--payload", default="{}", help="The payload, a JSON object.")
@click.option("--queue", help="The queue (default: the type's, else default).")
@click.option("--priority", type=int, help="Higher runs first.")
@click.option("--delay", type=float, help="Seconds from now until it is due.")
@click.option("--idempotency-key", help="A second submit with this key gives the same job.")
@json_option
def submit(
    job_type: str,
    payload: str,
    queue: str | None,
    priority: int | None,
    delay: float | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Add one job of TYPE; prints its id (or the job, with --json)."""
    body: dict[str, Any] = {"type": job_type, "payload": _json_object(payload, "payload")}
    given = {"queue": queue, "priority": priority, "delay_seconds": delay}
    body |= {name: value for name, value in given.items() if value is not None}
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key
    job = parse_new_job(body)
    with engine().begin() as conn:
        added = enqueue(conn, job, registry=registry())
        row = get_job(conn, added.id)
    if as_json:
        emit_json(job_json(row))
    else:
        click.echo(f"{'added' if added.created else 'exists'} job {added.id}")


@main.command()
@click.argument("source", type=click.File("r"), metavar="FILE|-")
@json_option
def bulk(source: IO[str], as_json: bool) -> None:
    """Add the jobs of FILE (or stdin), one JSON job per line as POST /jobs takes it, in
    transactions of 1,000. A bad line is named by its number; nothing of its transaction is
    kept (the transactions before it are)."""
    lines = source.readlines()
    added = transactions = 0
    with tqdm(total=len(lines), unit="line", desc="bulk") as bar:  # on stderr
        for first, chunk in _chunks(lines, MAX_BULK_JOBS):
            try:
                new_jobs = list(_parsed_lines(first, chunk))
            except ValidationError as exc:
                bar.close()
                kept = f"{added} jobs of lines 1-{first - 1} were added" if added else "none added"
                raise ValidationError(f"{exc.message} ({kept})", field=exc.field) from None
            with engine().begin() as conn:
                added += len(enqueue_many(conn, new_jobs, registry=registry()))
            transactions += 1
            bar.update(len(chunk))
    summary = {"added": added, "transactions": transactions, "lines": len(lines)}
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"added {added} jobs from {len(lines)} lines in {transactions} transactions")


def _chunks(lines: Sequence[str], size: int) -> Iterator[tuple[int, Sequence[str]]]:
    """(number of the first line, the lines) for each transaction's worth of lines."""
    for start in range(0, len(lines), size):
        yield start + 1, lines[start : start + size]


def _parsed_lines(first: int, chunk: Sequence[str]) -> Iterator[NewJob]:
    """The jobs of the lines (blank ones skipped), as POST /jobs checks them; a ValidationError
    names the line and its field, as ``line 12.payload.to``."""
    for number, line in enumerate(chunk, start=first):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
        except ValueError as exc:
            raise ValidationError(f"not JSON: {exc}", field=f"line {number}") from None
        try:
            yield parse_new_job(body)
        except ValidationError as exc:
            where = f"line {number}" if exc.field == "body" else f"line {number}.{exc.field}"
            raise ValidationError(exc.message, field=where) from None


@main.command(name="list")
@click.option("--status", help="Only jobs in this status (any case).")
@click.option("--queue", help="Only jobs of this queue.")
@click.option("--type", "job_type", help="Only jobs of this type.")
@click.option("--fingerprint", help="Only jobs of this DLQ group (see `skiplock dlq`).")
@click.option(
    "--limit", type=click.IntRange(1, MAX_LIMIT), default=DEFAULT_LIMIT, show_default=True
)
@click.option("--before", type=click.IntRange(1), help="Only jobs older than this id (a page).")
@json_option
def list_command(
    status: str | None,
    queue: str | None,
    job_type: str | None,
    fingerprint: str | None,
    limit: int,
    before: int | None,
    as_json: bool,
) -> None:
    """Jobs, newest first; --before with the last id shown gives the next page."""
    where = JobFilter(parse_status(status), job_type or None, queue or None, fingerprint or None)
    with engine().connect() as conn:
        rows, next_before = list_jobs(conn, where, limit=limit, before_id=before)
    if as_json:
        cursor = None if next_before is None else str(next_before)
        emit_json({"jobs": [job_json(row) for row in rows], "next_cursor": cursor})
        return
    table = [[_cell(job_json(row), column) for column in LIST_COLUMNS] for row in rows]
    print_table(LIST_COLUMNS, table)
    if next_before is not None:
        click.echo(f"more: skiplock list --before {next_before} ...", err=True)


@main.command()
@click.argument("job_id", type=click.IntRange(1))
@json_option
def show(job_id: int, as_json: bool) -> None:
    """One job, with every attempt. Exit code 1 if there is no such job."""
    with engine().connect() as conn:
        try:
            job = get_job(conn, job_id)
        except NotFound as exc:
            raise NotFound(exc.message, field="ID") from None
        history = attempt_history(conn, job_id)
    answer = {**job_json(job), "attempt_history": [attempt_json(a) for a in history]}
    if as_json:
        emit_json(answer)
        return
    for name, value in answer.items():
        if name != "attempt_history":
            click.echo(
                f"{name:>18}  {json.dumps(value) if isinstance(value, dict | list) else value}"
            )
    columns = ("attempt", "worker_id", "started_at", "ended_at", "outcome", "error")
    print_table(columns, [[_cell(a, c) for c in columns] for a in answer["attempt_history"]])


def _operator_command(name: str, action: Any, moves: str) -> None:
    @main.command(name=name, help=f"{moves} Give --ids, or a filter (--all for every job).")
    @click.option("--ids", help="Comma-separated job ids.")
    @click.option("--status", help="Only jobs in this status.")
    @click.option("--queue", help="Only jobs of this queue.")
    @click.option("--type", "job_type", help="Only jobs of this type.")
    @click.option("--fingerprint", help="Only jobs of this DLQ group (see `skiplock dlq`).")
    @click.option("--all", "every", is_flag=True, help="Every job (that the action can move).")
    @json_option
    def command(
        ids: str | None,
        status: str | None,
        queue: str | None,
        job_type: str | None,
        fingerprint: str | None,
        every: bool,
        as_json: bool,
    ) -> None:
        given = {"status": status, "queue": queue, "type": job_type, "fingerprint": fingerprint}
        raw = {key: value for key, value in given.items() if value is not None}
        if ids is not None:
            if raw or every:
                raise ValidationError("give either --ids or a filter", field="ids")
            updated = action(engine(), ids=_ids(ids))
        else:
            updated = action(engine(), where=parse_filter({**raw, "all": every}))
        if as_json:
            emit_json({"updated": updated})
        else:
            click.echo(f"{name}: {updated} jobs")


_operator_command("retry", retry_jobs, "Run FAILED and DLQ jobs again now.")
_operator_command("cancel", cancel_jobs, "Cancel CREATED, SCHEDULED, FAILED or DLQ jobs.")


def _ids(raw: str) -> list[int]:
    try:
        ids = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        ids = []
    if not ids or min(ids) < 1:
        raise ValidationError("ids must be job ids separated by commas, e.g. 3,4,9", field="ids")
    return ids


def _json_object(raw: str, field: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValidationError(f"{field} is not valid JSON: {exc}", field=field) from None
    if not isinstance(value, dict):
        raise ValidationError(f"{field} must be a JSON object", field=field)
    return value


def _cell(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    text = "" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
