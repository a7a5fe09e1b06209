"""Starts the local stack exactly as README.md says (./local/start.sh) and talks HTTP to it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.db import make_engine
from tests.databases import empty_tables

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalStack:
    process: subprocess.Popen[str]
    base_url: str
    moto_url: str
    token: str

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One HTTP request with the bearer token; the status and the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def wait_for_status(self, job_id: int, wanted: set[str], seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            _, job = self.call("GET", f"/jobs/{job_id}")
            if job["status"] in wanted or time.monotonic() > deadline:
                return dict(job)
            time.sleep(0.2)

    def stop(self) -> str:
        """Ctrl-C, as a developer would; returns everything the stack printed."""
        os.killpg(self.process.pid, signal.SIGINT)
        output, _ = self.process.communicate(timeout=60)
        return output


def start_stack(
    env: dict[str, str],
    startup_seconds: float = 300,
    args: tuple[str, ...] = (),
    ignore_sigint: bool = False,
) -> LocalStack:
    """The stack started as README.md says; with ``ignore_sigint``, as a script started in the
    background starts it (SIGINT inherited as ignored)."""
    port, moto_port = free_port(), free_port()
    token = "e2e-token"
    command = ["./local/start.sh", "--port", str(port), "--moto-port", str(moto_port), *args]
    if ignore_sigint:
        command = ["bash", "-c", 'trap "" INT; exec "$@"', "start.sh", *command]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        # No recurring schedules unless a test asks: their jobs would come at any minute.
        env={**os.environ, "API_TOKEN": token, "RECURRING_FILE": "", **env},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack = LocalStack(process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{moto_port}", token)
    deadline = time.monotonic() + startup_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the stack exited early:\n{process.communicate()[0]}")
        try:
            if stack.call("GET", "/openapi.json")[0] == 200:
                return stack
        except OSError:
            pass
        time.sleep(0.5)
    stack.stop()
    raise RuntimeError("the stack did not come up")


@contextmanager
def stack_on_empty_mariadb(
    url: str,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    ignore_sigint: bool = False,
) -> Iterator[LocalStack]:
    """The stack on the MariaDB database at ``url``, emptied first; stopped at the end."""
    engine = make_engine(url)
    empty_tables(engine)
    engine.dispose()
    stack = start_stack(
        {"DATABASE_URL": url, **(env or {})}, args=args, ignore_sigint=ignore_sigint
    )
    try:
        yield stack
    finally:
        if stack.process.poll() is None:
            stack.stop()
