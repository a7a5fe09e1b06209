"""The database goes away mid-drain, and comes back: the local stack talks to the tests' own
MariaDB through the tests' own TCP proxy, which is cut at chosen moments (at a time, mid-claim,
before a COMMIT, just after one), stalled (a network that forwards nothing), and the server
itself is killed and started again. Meanwhile four worker ticks and a schedule tick loop over
HTTP and probes ask the API: during an outage each answers 503 JSON quickly, afterwards the
same processes reconnect by themselves, and every job ends SUCCESS, each executed once except
those whose attempt an outage cut (counted by the job itself, in a table the proxy never cuts).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from common.models import job_attempts, jobs
from tests.database_faults.conftest import stack_env
from tests.database_faults.fault_jobs import executions
from tests.database_faults.own_mariadb import OwnMariaDB
from tests.database_faults.proxy import Proxy
from tests.database_faults.traffic import Answer, Ticking, call, running
from tests.e2e.stack import LocalStack, start_stack

WAVE_JOBS = 200  # submitted before each outage, so that each one cuts a drain
JOB_SECONDS = 0.2
OUTAGE_SECONDS = 1.5
CONNECT_TIMEOUT, READ_TIMEOUT = 1.0, 2.0
QUICK_SECONDS = 2.0  # a refused or closed connection answers within this
# A stalled connection: the pool's ping waits one read timeout, the new connection's handshake
# another (pymysql reads it under read_timeout), plus a connect timeout: then 503.
STALL_BOUND_SECONDS = CONNECT_TIMEOUT + 2 * READ_TIMEOUT + 2.0
RECONNECT_BOUND_SECONDS = 10.0
DRAIN_SECONDS = 120
REPORT = Path(__file__).resolve().parents[2] / ".local-stack" / "database-outage.json"


@dataclass
class Outage:
    name: str
    started: float = 0.0
    ended: float = 0.0
    wall_started: float = 0.0  # time.time(), as the jobs record their executions
    wall_ended: float = 0.0
    reconnect_seconds: float = 0.0
    probes: tuple[Answer, ...] = ()


@pytest.fixture
def proxy(own_mariadb: OwnMariaDB) -> Iterator[Proxy]:
    proxy = Proxy(own_mariadb.port)
    yield proxy
    proxy.close()


@pytest.fixture
def stack(
    own_mariadb: OwnMariaDB, own_database: str, proxy: Proxy, tmp_path: Path
) -> Iterator[LocalStack]:
    via_proxy = f"mysql+pymysql://root@127.0.0.1:{proxy.port}/{own_database}"
    env = stack_env(
        via_proxy,
        own_mariadb.url(own_database),
        DATABASE_CONNECT_TIMEOUT_SECONDS=str(CONNECT_TIMEOUT),
        DATABASE_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT),
    )
    with running(start_stack(env, args=("--no-cron",)), tmp_path / "stack.log") as stack:
        yield stack


def test_outages_mid_drain_answer_503_and_lose_nothing(
    stack: LocalStack, proxy: Proxy, own_mariadb: OwnMariaDB, direct: Engine
) -> None:
    processes = descendants(stack.process.pid)
    ticking = Ticking(stack).start()
    faults: list[tuple[str, Callable[[], None], Callable[[], None]]] = [
        ("cut between claim and finish", proxy.cut, proxy.restore),
        (
            "cut mid-claim (after SKIP LOCKED)",
            triggered(proxy, b"SKIP LOCKED", True),
            proxy.restore,
        ),
        ("cut mid-transaction (before COMMIT)", triggered(proxy, b"COMMIT", False), proxy.restore),
        ("cut in doubt (after COMMIT)", triggered(proxy, b"COMMIT", True), proxy.restore),
        ("stall (forwards nothing)", proxy.stall, proxy.restore),
        ("MariaDB killed and restarted", own_mariadb.crash, own_mariadb.start),
    ]
    outages = []
    try:
        for name, inject, repair in faults:
            submit_wave(stack)
            time.sleep(0.5)  # the drain is under way
            outages.append(outage(stack, name, inject, repair))
        final = wait_until_final(direct, DRAIN_SECONDS)
    finally:
        ticking.stop()

    report = summarize(direct, outages, ticking.answers, final)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))

    assert final == {"SUCCESS": WAVE_JOBS * len(faults) + report["accepted_during_outages"]}
    assert report["jobs_never_executed"] == 0
    assert report["jobs_beyond_one_execution_per_cut_attempt"] == []
    assert report["repeated_runs_outside_an_outage"] == []
    # Each rerun shows the attempt it repeats, even one whose start was never written.
    assert report["extra_executions_of_an_unrecorded_start"] == 0
    assert report["answers_500"] == [], report["answers_500"]
    for one in outages:
        bound = STALL_BOUND_SECONDS if one.name.startswith("stall") else QUICK_SECONDS
        refused = [p for p in one.probes if p.status != 200]
        assert refused, f"{one.name}: no probe saw the outage"
        assert all(p.status == 503 and p.code == "database_unavailable" for p in refused), refused
        assert max(p.seconds for p in one.probes) < bound, (one.name, one.probes)
        assert one.reconnect_seconds < RECONNECT_BOUND_SECONDS, one
    tick_outage_answers = [a for a in ticking.answers if a.status != 200]
    assert all(a.status == 503 and a.code == "database_unavailable" for a in tick_outage_answers)
    assert descendants(stack.process.pid) == processes  # the same processes reconnected


def triggered(proxy: Proxy, pattern: bytes, after_forwarding: bool) -> Callable[[], None]:
    def inject() -> None:
        fired = proxy.cut_when(pattern, after_forwarding=after_forwarding)
        assert fired.wait(10), f"no client sent {pattern!r} within 10 s"

    return inject


def submit_wave(stack: LocalStack) -> None:
    body = {"jobs": [{"type": "count", "payload": {"seconds": JOB_SECONDS}}] * WAVE_JOBS}
    answer = call(stack, "POST", "/jobs/bulk", body)
    assert answer.status == 201, answer


def outage(
    stack: LocalStack, name: str, inject: Callable[[], None], repair: Callable[[], None]
) -> Outage:
    """Inject a fault, probe the API while it lasts, repair it, time the reconnection."""
    one = Outage(name, started=time.monotonic(), wall_started=time.time())
    inject()
    probes = []
    while time.monotonic() - one.started < OUTAGE_SECONDS or not probes:
        probes += [
            call(stack, "POST", "/jobs", {"type": "count"}),
            call(stack, "GET", "/jobs?limit=1"),
            call(stack, "POST", "/ticks/work", {"budget_seconds": 1}),
        ]
    repair()
    one.ended, one.wall_ended = time.monotonic(), time.time()
    while call(stack, "GET", "/jobs?limit=1").status != 200:
        assert time.monotonic() - one.ended < 60, f"{name}: no reconnection within 60 s"
        time.sleep(0.05)
    one.reconnect_seconds = time.monotonic() - one.ended
    one.probes = tuple(probes)
    return one


def wait_until_final(direct: Engine, seconds: float) -> dict[str, int]:
    deadline = time.monotonic() + seconds
    while True:
        with direct.connect() as conn:
            counts = dict(
                conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status)).all()
            )
        if set(counts) <= {"SUCCESS", "DLQ", "CANCELLED"} or time.monotonic() > deadline:
            return {str(k): int(v) for k, v in counts.items()}
        time.sleep(0.5)


def summarize(
    direct: Engine, outages: list[Outage], tick_answers: list[Answer], final: dict[str, int]
) -> dict[str, object]:
    with direct.connect() as conn:
        ids = conn.execute(select(jobs.c.id)).scalars().all()
        history = conn.execute(select(job_attempts.c.job_id, job_attempts.c.outcome)).all()
        runs = conn.execute(select(executions.c.job_id, executions.c.attempt)).all()
        ends = conn.execute(
            select(executions.c.job_id, executions.c.attempt, executions.c.at)
        ).all()
    ran = Counter(run.job_id for run in runs)
    shown_cut = Counter(h.job_id for h in history if h.outcome != "success")
    # An attempt cut before its start was written is recovered as never started: the job runs
    # the same attempt number again, and its history does not show the cut one.
    repeated = Counter(job for (job, _), n in Counter(runs).items() for _ in range(n - 1))
    every = [*tick_answers, *(p for o in outages for p in o.probes)]
    accepted = [p for o in outages for p in o.probes if p.what == "POST /jobs" and p.status == 201]
    return {
        "jobs": len(ids),
        "final": final,
        "accepted_during_outages": len(accepted),
        "jobs_never_executed": sum(1 for i in ids if ran[i] == 0),
        "jobs_executed_more_than_once": sum(1 for i in ids if ran[i] > 1),
        "executions": sum(ran.values()),
        "extra_executions_shown_as_lost_attempts": sum(
            min(ran[i] - 1 - repeated[i], shown_cut[i]) for i in ids if ran[i] > 1
        ),
        "extra_executions_of_an_unrecorded_start": sum(repeated.values()),
        "jobs_beyond_one_execution_per_cut_attempt": [
            i for i in ids if ran[i] - 1 > shown_cut[i] + repeated[i]
        ],
        "attempt_numbers_run_more_than_twice": sum(1 for n in Counter(runs).values() if n > 2),
        "repeated_runs_outside_an_outage": repeated_outside_outages(ends, outages),
        "attempt_outcomes": dict(Counter(str(h.outcome) for h in history)),
        "answers_500": [a.what for a in every if a.status >= 500 and a.status != 503],
        "tick_answers": len(tick_answers),
        "tick_answers_503": sum(1 for a in tick_answers if a.status == 503),
        "slowest_tick_503_seconds": round(
            max((a.seconds for a in tick_answers if a.status == 503), default=0.0), 3
        ),
        "outages": [
            {
                "fault": o.name,
                "seconds_down": round(o.ended - o.started, 2),
                "probes": len(o.probes),
                "probes_503": sum(1 for p in o.probes if p.status == 503),
                "probe_codes": sorted({str(p.code) for p in o.probes if p.status != 200}),
                "slowest_probe_seconds": round(max(p.seconds for p in o.probes), 3),
                "median_probe_seconds": round(
                    sorted(p.seconds for p in o.probes)[len(o.probes) // 2], 3
                ),
                "reconnect_seconds": round(o.reconnect_seconds, 3),
            }
            for o in outages
        ],
    }


def repeated_outside_outages(ends: Sequence[Any], outages: list[Outage]) -> list[int]:
    """Jobs that ran an attempt number again although its earlier run ended outside every
    outage (from a second before it to a few seconds after it): only a cut may repeat one."""
    windows = [(o.wall_started - 1.0, o.wall_ended + READ_TIMEOUT + 1.0) for o in outages]
    by_attempt: dict[tuple[int, int], list[float]] = {}
    for end in ends:
        by_attempt.setdefault((end.job_id, end.attempt), []).append(end.at)
    return sorted(
        job
        for (job, _), times in by_attempt.items()
        for at in sorted(times)[:-1]
        if not any(start <= at <= stop for start, stop in windows)
    )


def descendants(pid: int) -> set[int]:
    """The processes under ``pid`` (the stack: gunicorn's master and workers)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found
