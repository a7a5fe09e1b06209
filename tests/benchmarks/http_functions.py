"""Section 3, skiplock through HTTP: its entry point, and all but the drains (over_http.py).

- Submission: POST /jobs (1 and 4 clients) and POST /jobs/bulk (1,000 jobs per request) to
  the local stack.
- Cold start: each function served alone by functions-framework, from process start to the
  answer to its first real request.
- Memory: one worker_tick function process draining the memory section's job count.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tests.benchmarks import memory, over_http, submit
from tests.benchmarks.bench_db import BenchError, empty, job_ids
from tests.benchmarks.plan import NOOP_TYPE, Plan
from tests.benchmarks.procs import cpu_seconds, database_pids, run_workers
from tests.benchmarks.results import Results, Table
from tests.benchmarks.stack import Client, Served, function, local_stack

FUNCTION_PORT = 18090
MEMORY_BATCH = 10
COLD_START_SECONDS = 30.0

# The first request each function gets, as a client or the scheduler would send it.
FIRST_REQUESTS: dict[str, tuple[str, str, Any]] = {
    "submit_job": ("POST", "/jobs", {"type": NOOP_TYPE}),
    "list_jobs": ("GET", "/jobs", None),
    "update_jobs": ("POST", "/jobs/update", {"action": "cancel", "ids": [1]}),
    "schedule_tick": ("POST", "/ticks/schedule", {"budget_seconds": 0.1}),
    "worker_tick": ("POST", "/ticks/work", {"budget_seconds": 0.1}),
}


@dataclass(frozen=True)
class PostSpec:
    base_url: str
    jobs: int
    bulk: int  # jobs per POST /jobs/bulk; 0 = POST /jobs, one job per request


def post_client(spec: PostSpec, ready: Callable[[], None]) -> list[int]:
    """Submit ``spec.jobs`` no-op jobs over HTTP; return the ids the API answered."""
    client = Client(spec.base_url)
    client.ok("GET", "/openapi.json")  # open the keep-alive connection before the start
    ids: list[int] = []
    ready()
    if spec.bulk == 0:
        ids = [client.ok("POST", "/jobs", {"type": NOOP_TYPE})["id"] for _ in range(spec.jobs)]
    for start in range(0, spec.jobs if spec.bulk else 0, spec.bulk or 1):
        count = min(spec.bulk, spec.jobs - start)
        ids += client.ok("POST", "/jobs/bulk", {"jobs": [{"type": NOOP_TYPE}] * count})["ids"]
    client.close()
    return ids


REFUSED_BODY = {"type": NOOP_TYPE, "not_a_field": 1}  # a 400 before any database work


def refused_client(spec: PostSpec, ready: Callable[[], None]) -> list[int]:
    """POST ``spec.jobs`` bodies the API refuses (400) over HTTP: the gateway's own cost."""
    client = Client(spec.base_url)
    client.ok("GET", "/openapi.json")
    ready()
    for _ in range(spec.jobs):
        status, answer = client.call("POST", "/jobs", REFUSED_BODY)
        if status != 400:
            raise BenchError(f"a refused body answered {status}: {answer}")
    client.close()
    return []


def run_submissions(plan: Plan, results: Results, engine: Engine) -> None:
    table = Table(
        "Submission over HTTP (local stack, 4 gateway processes)",
        ["request", "clients", "jobs/s", "requests/s", "CPU µs per request, gateway / MariaDB"],
    )
    with local_stack(over_http.STACK_PORT, 4, 10).start() as stack:
        stack.wait_until_answering("GET", "/openapi.json", None, 60)
        cases = [
            ("POST /jobs", "http_one", 0, plan.submit_single_jobs, clients) for clients in (1, 4)
        ]
        cases += [
            (
                f"POST /jobs/bulk, {submit.BULK_SIZE} per request",
                "http_bulk",
                submit.BULK_SIZE,
                plan.submit_jobs,
                clients,
            )
            for clients in (1, 4)
        ]
        for label, name, bulk, jobs, clients in cases:
            cpu = CpuSpent(stack.pids())
            rate = submit.measure(
                post_client,
                partial(PostSpec, stack.base_url, bulk=bulk),
                clients,
                jobs,
                engine,
            )
            requests = jobs // (bulk or 1)
            results.figures[f"submit.{name}.c{clients}"] = rate
            table.rows.append(
                [
                    label,
                    str(clients),
                    f"{rate:,.0f}",
                    f"{rate / (bulk or 1):,.0f}",
                    cpu.per(requests),
                ]
            )
            print(f"  {label:<45} clients={clients} {rate:>9,.0f} jobs/s")
        table.rows.append(_refused_row(plan, results, engine, stack))
    table.notes.append(
        "CPU: the local stack's processes (gunicorn's, where the functions run) and MariaDB's, "
        "over the run, per request. The refused POST /jobs (a body with an unknown field: 400 "
        "before any database work) is what the gateway costs without the database: gunicorn, "
        "Flask and the request path."
    )
    results.tables.append(table)


def _refused_row(plan: Plan, results: Results, engine: Engine, stack: Served) -> list[str]:
    clients, requests = 4, plan.submit_single_jobs
    cpu = CpuSpent(stack.pids())
    empty(engine)
    run = run_workers(refused_client, PostSpec(stack.base_url, requests // clients, 0), clients, 0)
    if job_ids(engine):
        raise BenchError("a refused POST /jobs stored a job")
    rate = requests // clients * clients / run.seconds
    results.figures["submit.http_refused.c4"] = rate
    print(f"  {'POST /jobs refused (400)':<45} clients={clients} {rate:>9,.0f} requests/s")
    return [
        "POST /jobs refused (400, no database)",
        str(clients),
        "-",
        f"{rate:,.0f}",
        cpu.per(requests),
    ]


class CpuSpent:
    """CPU of the stack's processes and of MariaDB from now on."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.server, self.database = cpu_seconds(pids), cpu_seconds(database_pids())

    def per(self, requests: int) -> str:
        server = cpu_seconds(self.pids) - self.server
        database = cpu_seconds(database_pids()) - self.database
        return f"{1e6 * server / requests:,.0f} / {1e6 * database / requests:,.0f}"


def run_cold_starts(plan: Plan, results: Results, engine: Engine) -> None:
    table = Table(
        "Function cold start (functions-framework, process start to first answer)",
        ["function", "first request", "median s", "max s"],
    )
    repeats = max(plan.repeats, 1)
    worst = 0.0
    for port, (target, (method, path, body)) in enumerate(FIRST_REQUESTS.items(), FUNCTION_PORT):
        times = []
        for _ in range(repeats):
            with function(target, port).start() as served:
                times.append(served.wait_until_answering(method, path, body, COLD_START_SECONDS))
        median = statistics.median(times)
        worst = max(worst, median)
        table.rows.append([target, f"{method} {path}", f"{median:.2f}", f"{max(times):.2f}"])
        print(f"  cold start {target:<14} median {median:.2f} s, max {max(times):.2f} s")
    results.figures["cold_start.max_s"] = worst
    table.notes.append(
        f"{repeats} starts per function; the target is judged on the slowest function's median."
    )
    results.tables.append(table)


def run_memory(plan: Plan, results: Results, engine: Engine) -> None:
    """One worker_tick function process drains ``plan.memory_jobs`` jobs; its peak RSS."""
    with function("worker_tick", FUNCTION_PORT, WORKER_BATCH_SIZE=str(MEMORY_BATCH)).start() as fn:
        fn.wait_until_answering("POST", "/", {"budget_seconds": 0.1}, COLD_START_SECONDS)
        pids = fn.pids()
        before = max(memory.rss_mb("VmRSS", pid) for pid in pids)
        budget = over_http.tick_budget(results, 1, MEMORY_BATCH, plan.memory_jobs)
        drain = over_http.http_drain(fn.base_url, 1, plan.memory_jobs, budget, engine, fn, path="/")
        peak = max(memory.rss_mb("VmHWM", pid) for pid in pids)
        after = max(memory.rss_mb("VmRSS", pid) for pid in pids)
    results.figures["memory.http.peak_mb"] = peak
    results.tables.append(
        Table(
            "Worker tick memory, function process (functions-framework --target worker_tick)",
            ["jobs drained", "jobs/s", "RSS after first request MB", "RSS end MB", "peak RSS MB"],
            [
                [
                    f"{plan.memory_jobs:,}",
                    f"{drain.rate:,.0f}",
                    f"{before:.0f}",
                    f"{after:.0f}",
                    f"{peak:.0f}",
                ]
            ],
            ["The largest process of the function's tree (gunicorn's worker) is reported."],
        )
    )
    print(
        f"  function process: peak RSS {peak:.0f} MB over {plan.memory_jobs:,} jobs, "
        f"{drain.rate:,.0f} jobs/s"
    )


def run(plan: Plan, results: Results, engine: Engine) -> None:
    """Section 3: every HTTP measurement (the drains are in over_http.py)."""
    if not (Path(__file__).resolve().parents[2] / "local" / "__main__.py").exists():
        raise BenchError("the local stack (local/__main__.py) is not there yet")
    over_http.run_drains(plan, results, engine)
    run_submissions(plan, results, engine)
    run_cold_starts(plan, results, engine)
    run_memory(plan, results, engine)
