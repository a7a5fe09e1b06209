"""Processes the HTTP sections talk to: the local stack (`python -m local`) and single functions
served by functions-framework, plus a small keep-alive JSON client for them."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.benchmarks.bench_db import BenchError
from tests.benchmarks.plan import MARIADB_URL

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
LOGS = REPO / "build" / "benchmarks"


def server_env(**overrides: str) -> dict[str, str]:
    """The environment of a served function: the benchmark database, no auth, built-in types,
    and LOG_LEVEL=WARNING: at INFO every job's two transitions are two log lines, work the
    earlier runs did not do, and that a deployment chooses (tests/benchmarks/analysis.md)."""
    env = {k: v for k, v in os.environ.items() if k not in {"API_TOKEN", "SCHEDULER_TOKEN"}}
    env.update(
        DATABASE_URL=MARIADB_URL,
        BUILTIN_JOB_TYPES="true",
        PYTHONPATH=str(REPO),
        LOG_LEVEL="WARNING",
    )
    env.update(overrides)
    return env


class Client:
    """One keep-alive HTTP/1.1 connection speaking JSON."""

    def __init__(self, base_url: str, timeout_seconds: float = 120.0) -> None:
        host, _, port = base_url.removeprefix("http://").partition(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout_seconds)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.call(method, path, body)
        if status >= 300:
            raise BenchError(f"{method} {path} answered {status}: {answer}")
        return answer

    def close(self) -> None:
        self.conn.close()


class Served:
    """A server process started in its own session, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], port: int) -> None:
        self.name, self.command, self.env = name, command, env
        self.base_url = f"http://{HOST}:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> Served:
        LOGS.mkdir(parents=True, exist_ok=True)
        log = (LOGS / f"{self.name}.log").open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.command,
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_until_answering(self, method: str, path: str, body: Any, seconds: float) -> float:
        """Seconds from start to the first successful answer to this request."""
        deadline = self.started + seconds
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}; see its log")
            try:
                client = Client(self.base_url, timeout_seconds=seconds)
                status, answer = client.call(method, path, body)
                client.close()
            except (ConnectionError, http.client.HTTPException):
                time.sleep(0.005)
                continue
            if status >= 300:
                raise BenchError(f"{self.name}: {method} {path} answered {status}: {answer}")
            return time.monotonic() - self.started
        raise BenchError(f"{self.name} did not answer {method} {path} within {seconds:g} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the session this object started
            self.proc.wait()

    def pids(self) -> list[int]:
        """The server process and its descendants (gunicorn's workers)."""
        assert self.proc is not None
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                todo += [int(child) for child in task.read_text().split()]
        return found

    def __enter__(self) -> Served:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def local_stack(port: int, workers: int, batch: int, **env: str) -> Served:
    """`python -m local --no-cron`: the gateway (gunicorn, ``workers`` processes) and moto.

    ``env`` adds settings (``WORKER_CONCURRENCY``, ``JOB_MODULES``, ...) to the stack's.
    """
    command = [
        sys.executable,
        "-m",
        "local",
        "--no-cron",
        "--port",
        str(port),
        "--moto-port",
        str(port + 1),
        "--workers",
        str(workers),
    ]
    return Served("local-stack", command, server_env(WORKER_BATCH_SIZE=str(batch), **env), port)


def function(target: str, port: int, **env: str) -> Served:
    """One function served alone, as deployed: functions-framework --target ``target``."""
    command = [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        "functions/main.py",
        "--target",
        target,
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    return Served(f"function-{target}", command, server_env(**env), port)
