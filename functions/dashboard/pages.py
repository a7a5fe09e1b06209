"""The dashboard's pages and actions: each reads or acts through common/, as the API does,
and renders a Jinja2 template (autoescaped: a payload of ``<script>`` is shown, never run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import flask
import jinja2

from common import stats
from common.dlq import dlq_groups
from common.enqueue import NAME
from common.errors import NotFound, ValidationError
from common.maintenance import JobFilter, cancel_jobs, retry_jobs
from common.outputs import output_of
from common.queries import attempt_history, get_job, list_jobs, newer_jobs
from common.queue_controls import read_controls, set_paused
from common.states import Status
from common.transitions import CANCELLABLE, RETRYABLE
from functions._http import engine, registry, reject_unknown, settings
from functions.dashboard.chart import throughput_chart
from functions.dashboard.session import Session
from functions.jobs_json import MAX_JOB_ID
from functions.list_jobs import MAX_LIMIT, parse_status
from functions.queues import parse_queue_name
from functions.update_jobs import parse_filter

PAGE_SIZE = 50
LIST_PARAMETERS = ("status", "queue", "type", "before", "after", "limit")
NOTICE_PARAMETERS = ("done", "updated", "queue")
ACTIONS = {"retry": retry_jobs, "cancel": cancel_jobs}
QUEUE_ACTIONS = {"pause": True, "resume": False}  # paused, after the action
DONE = {"retry": "retried", "cancel": "cancelled", "pause": "paused", "resume": "resumed"}

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
templates.filters["when"] = lambda moment: (
    "" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"
)
templates.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)


def render(name: str, session: Session | None, status: int = 200, **context: Any) -> flask.Response:
    """The template ``name`` as an HTML answer, with what every page shows."""
    context.setdefault("notice", None)
    page = templates.get_template(name).render(
        csrf=session.csrf if session else "",
        auth=settings().api_token is not None,
        logged_in=bool(session and session.logged_in),
        statuses=[s.value for s in Status],
        **context,
    )
    return flask.Response(page, status=status, mimetype="text/html")


def overview(request: flask.Request, session: Session) -> flask.Response:
    reject_unknown(request.args, NOTICE_PARAMETERS, what="query parameter")
    with engine().connect() as conn:
        queues = stats.overview(conn)
        chart = throughput_chart(stats.throughput(conn))
        controls = read_controls(conn, registry().queue_controls)
    return render(
        "overview.html",
        session,
        queues=queues,
        controls=controls,
        chart=chart,
        cap=stats.COUNT_CAP,
        notice=_notice(request),
    )


def jobs_page(request: flask.Request, session: Session) -> flask.Response:
    args = request.args
    reject_unknown(args, LIST_PARAMETERS + NOTICE_PARAMETERS, what="query parameter")
    where = JobFilter(
        parse_status(args.get("status")), args.get("type") or None, args.get("queue") or None
    )
    limit = _number(args.get("limit"), "limit", PAGE_SIZE, MAX_LIMIT) or PAGE_SIZE
    before = _number(args.get("before"), "before", None, MAX_JOB_ID)
    after = _number(args.get("after"), "after", None, MAX_JOB_ID)
    if before is not None and after is not None:
        raise ValidationError("give before or after, not both", field="after")
    with engine().connect() as conn:
        if after is None:
            rows, older = list_jobs(conn, where, limit=limit, before_id=before)
            newer = rows[0]["id"] if rows and before is not None else None
        else:
            rows, more = newer_jobs(conn, where, limit=limit, after_id=after)
            older = rows[-1]["id"] if rows else None
            newer = rows[0]["id"] if more else None
    kept = {k: v for k, v in args.items() if k in ("status", "queue", "type", "limit") and v}
    return render(
        "jobs.html",
        session,
        jobs=rows,
        filters=kept,
        older=None if older is None else "?" + urlencode({**kept, "before": older}),
        newer=None if newer is None else "?" + urlencode({**kept, "after": newer}),
        notice=_notice(request),
    )


def job_page(request: flask.Request, session: Session, raw_id: str) -> flask.Response:
    reject_unknown(request.args, NOTICE_PARAMETERS, what="query parameter")
    job_id = _number(raw_id, "job_id", None, MAX_JOB_ID)
    with engine().connect() as conn:
        try:
            job = get_job(conn, job_id or 0)
        except NotFound as exc:
            raise NotFound(exc.message, field="job_id") from None
        attempts = attempt_history(conn, job["id"])
    status = Status(job["status"])
    return render(
        "job.html",
        session,
        job=job,
        attempts=attempts,
        output=output_of(settings(), job),
        can_retry=status in RETRYABLE,
        can_cancel=status in CANCELLABLE,
        notice=_notice(request),
    )


def dlq_page(request: flask.Request, session: Session) -> flask.Response:
    reject_unknown(request.args, NOTICE_PARAMETERS, what="query parameter")
    with engine().connect() as conn:
        groups = dlq_groups(conn)
    return render("dlq.html", session, groups=groups, notice=_notice(request))


def act(request: flask.Request) -> flask.Response:
    """POST /dashboard/actions: retry or cancel the jobs ``ids`` or a DLQ group's
    ``fingerprint``, through the guarded operations of POST /jobs/update."""
    form = request.form
    if form.get("action") in QUEUE_ACTIONS:
        return _pause_or_resume(request)
    action = ACTIONS.get(form.get("action", ""))
    if action is None:
        raise ValidationError(
            'action must be "retry", "cancel", "pause" or "resume"', field="action"
        )
    ids, fingerprint = form.get("ids", "").strip(), form.get("fingerprint", "").strip()
    if bool(ids) == bool(fingerprint):
        raise ValidationError("give either ids or fingerprint", field="ids")
    if ids:
        updated = action(engine(), ids=_ids(ids))
    else:
        updated = action(engine(), where=parse_filter({"fingerprint": fingerprint}))
    back = _back_to(form.get("next", ""))
    notice = urlencode({"done": form["action"], "updated": updated})
    return redirect(f"{back}{'&' if '?' in back else '?'}{notice}")


def _pause_or_resume(request: flask.Request) -> flask.Response:
    """Pause or resume the form's ``queue`` (its other controls stay), as PUT /queues does."""
    form = request.form
    queue = parse_queue_name(form.get("queue", ""))
    who = f"dashboard {request.remote_addr or 'unknown'}"
    set_paused(engine(), queue, QUEUE_ACTIONS[form["action"]], who, registry().queue_controls)
    notice = urlencode({"done": form["action"], "queue": queue})
    return redirect(f"/dashboard?{notice}")


def redirect(url: str) -> flask.Response:
    """303 See Other: after a POST, the browser GETs ``url``."""
    return flask.Response(status=303, headers={"Location": url})


def _notice(request: flask.Request) -> str | None:
    done, updated = request.args.get("done"), request.args.get("updated", "")
    if done in QUEUE_ACTIONS and NAME.fullmatch(request.args.get("queue", "")):
        return f"{DONE[done]} queue {request.args['queue']}"
    if done not in DONE or not updated.isdigit():
        return None
    return f"{DONE[done]} {updated} job{'' if updated == '1' else 's'}"


def _back_to(raw: str) -> str:
    """Where an action returns to: a dashboard page, never another site."""
    if raw.startswith("/dashboard") and "//" not in raw and "\\" not in raw:
        return raw
    return "/dashboard"


def _ids(raw: str) -> list[int]:
    parts = [part.strip() for part in raw.split(",")]
    if not all(p.isascii() and p.isdigit() and 0 < int(p) <= MAX_JOB_ID for p in parts):
        raise ValidationError("ids must be job ids separated by commas", field="ids")
    return [int(part) for part in parts]


def _number(raw: str | None, field: str, default: int | None, top: int) -> int | None:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= top):
        raise ValidationError(f"{field} must be an integer from 1 to {top}", field=field)
    return int(raw)
