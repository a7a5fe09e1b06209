"""./local/start.sh refuses, with a message, what could not work; and stops cleanly, within
10 s and leaving no process behind, on Ctrl-C, SIGINT or SIGTERM while a worker tick runs.

The rule after a stop: no job is RUNNING. The tick told to stop handed back (SCHEDULED, its
attempt not counted) every job it had not started, and recorded every attempt it had started:
ended in time, or given up on as ``timeout`` and retried like any failure. No job is left to
wait for its lease.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select

from common.db import make_engine
from common.models import job_attempts, jobs
from tests.e2e.stack import REPO, LocalStack, free_port, stack_on_empty_mariadb

STOP_LIMIT_SECONDS = 10.0
REFUSAL_LIMIT_SECONDS = 60.0  # the venv is there already: start.sh itself takes a few seconds
SLEEP_JOBS = 12


def start_sh(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """./local/start.sh that is expected to give up by itself, within REFUSAL_LIMIT_SECONDS."""
    started = time.monotonic()
    done = subprocess.run(
        ["./local/start.sh", *args],
        cwd=REPO,
        env={**os.environ, "RECURRING_FILE": "", **env},
        text=True,
        capture_output=True,
        timeout=REFUSAL_LIMIT_SECONDS,
        start_new_session=True,
    )
    print(f"\nrefused in {time.monotonic() - started:.1f} s: {done.stderr.strip()[-200:]}")
    return done


@contextmanager
def listening_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another server holds (it accepts, never answers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_start_up_refuses_a_job_module_that_does_not_import(
    database_urls: dict[str, str],
) -> None:
    ports = ["--port", str(free_port()), "--moto-port", str(free_port())]
    env = {"JOB_MODULES": "no_such_jobs_module", "DATABASE_URL": database_urls["mariadb"]}
    done = start_sh(ports, env)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "JOB_MODULES" in output and "'no_such_jobs_module' does not import" in output
    assert "is up" not in output


@pytest.mark.parametrize("busy", ["--port", "--moto-port"])
def test_start_up_refuses_a_busy_port(busy: str, database_urls: dict[str, str]) -> None:
    with listening_port() as taken:
        ports = {"--port": free_port(), "--moto-port": free_port(), busy: taken}
        args = [str(part) for pair in ports.items() for part in pair]
        done = start_sh(args, {"DATABASE_URL": database_urls["mariadb"]})
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert f"({busy}) 127.0.0.1:{taken} is in use" in output
    assert "is up" not in output


def ctrl_c(stack: LocalStack) -> None:
    """What a terminal does: SIGINT to the whole foreground process group."""
    os.killpg(stack.process.pid, signal.SIGINT)


def sigterm(stack: LocalStack) -> None:
    """What Cloud Run, Lambda, systemd or `kill` do: SIGTERM to the process."""
    stack.process.send_signal(signal.SIGTERM)


def sigint(stack: LocalStack) -> None:
    """`kill -INT` of a stack a script started in the background (SIGINT inherited ignored)."""
    stack.process.send_signal(signal.SIGINT)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [ctrl_c, sigterm, sigint], ids=["ctrl-c", "sigterm", "sigint"])
def test_the_stack_stops_within_10_s_mid_tick_leaving_no_process_and_no_job_running(
    stop: Callable[[LocalStack], None], database_urls: dict[str, str]
) -> None:
    url = database_urls["mariadb"]
    env = {"WORKER_CONCURRENCY": "4", "WORKER_BATCH_SIZE": "10"}
    ignore_sigint = stop is sigint
    with stack_on_empty_mariadb(url, env=env, ignore_sigint=ignore_sigint) as stack:
        for _ in range(SLEEP_JOBS):
            status, job = stack.call("POST", "/jobs", {"type": "sleep", "payload": {"seconds": 20}})
            assert status == 201, job
        tick: dict[str, Any] = {}
        caller = threading.Thread(target=lambda: tick.update(answer=long_tick(stack)))
        caller.start()
        wait_for_started_attempts(url, 2)
        processes = process_tree(stack.process.pid)
        started = time.monotonic()
        stop(stack)
        stack.process.communicate(timeout=30)
        took = time.monotonic() - started
        caller.join(timeout=30)
    print(f"\nstopped in {took:.1f} s; the tick answered {tick.get('answer')}")
    assert took < STOP_LIMIT_SECONDS, f"stopped after {took:.1f} s"
    assert processes_left(processes) == [], "processes outlived the stack"
    assert port_is_free(stack.base_url), "the gateway's port is still held"
    assert tick["answer"][0] == 200, tick
    counts = status_counts(url)
    assert counts.get("RUNNING", 0) == 0, counts
    assert counts.get("SCHEDULED", 0) > 0, counts  # claimed, not started: handed back
    assert sum(counts.values()) == SLEEP_JOBS
    # The started ones: given up on by the ticks (the cron's and ours), not left to a lease.
    assert attempt_outcomes(url) == {"timeout": counts.get("FAILED", 0)}


def long_tick(stack: LocalStack) -> tuple[int, Any]:
    return stack.call("POST", "/ticks/work", {"budget_seconds": 50})


def wait_for_started_attempts(url: str, wanted: int, seconds: float = 30) -> None:
    engine = make_engine(url)
    deadline = time.monotonic() + seconds
    try:
        while True:
            with engine.connect() as conn:
                running = select(func.count()).where(
                    jobs.c.status == "RUNNING", jobs.c.started_at.is_not(None)
                )
                if conn.execute(running).scalar_one() >= wanted:
                    return
            assert time.monotonic() < deadline, "no attempt started"
            time.sleep(0.1)
    finally:
        engine.dispose()


def status_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status)).all()
    engine.dispose()
    return {status: n for status, n in rows}


def attempt_outcomes(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        query = select(job_attempts.c.outcome, func.count()).group_by(job_attempts.c.outcome)
        rows = conn.execute(query).all()
    engine.dispose()
    return {outcome: n for outcome, n in rows}


def process_tree(root: int) -> set[tuple[int, int]]:
    """(pid, process group) of ``root`` and every process under it."""
    table = [line.split() for line in _ps().splitlines()]
    children: dict[int, list[tuple[int, int]]] = {}
    for pid, ppid, pgid in ((int(a), int(b), int(c)) for a, b, c in table):
        children.setdefault(ppid, []).append((pid, pgid))
    tree, todo = set(), [root]
    while todo:
        for pid, pgid in children.get(todo.pop(), []):
            tree.add((pid, pgid))
            todo.append(pid)
    return tree | {(root, os.getpgid(root))}


def processes_left(tree: set[tuple[int, int]]) -> list[str]:
    """Processes alive of ``tree``, or in any of its process groups."""
    groups = {pgid for _, pgid in tree}
    pids = {pid for pid, _ in tree}
    return [
        line
        for line in _ps().splitlines()
        if int(line.split()[0]) in pids or int(line.split()[2]) in groups
    ]


def _ps() -> str:
    return subprocess.run(
        ["ps", "-e", "-o", "pid=,ppid=,pgid="], capture_output=True, text=True, check=True
    ).stdout


def port_is_free(base_url: str) -> bool:
    port = int(base_url.rsplit(":", 1)[1])
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
