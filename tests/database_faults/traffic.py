"""HTTP traffic at a stack while a database fault happens: every answer timed and kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.stack import LocalStack


@dataclass(frozen=True)
class Answer:
    """One request: what was asked, when (monotonic), the status, JSON body and seconds."""

    what: str
    at: float
    status: int
    body: Any
    seconds: float

    @property
    def code(self) -> str | None:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return error.get("code") if isinstance(error, dict) else None


def call(stack: LocalStack, method: str, path: str, body: Any = None) -> Answer:
    """One request with the stack's token; a body that is not JSON is kept as text."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        stack.base_url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {stack.token}", "Content-Type": "application/json"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        decoded: Any = json.loads(raw)
    except ValueError:
        decoded = raw.decode(errors="replace")
    return Answer(f"{method} {path}", started, status, decoded, time.monotonic() - started)


@dataclass
class Ticking:
    """Threads that keep POSTing /ticks/work (``workers`` of them) and /ticks/schedule, as a
    cron would, until stopped; every answer is kept."""

    stack: LocalStack
    workers: int = 4
    budget_seconds: float = 2.0
    answers: list[Answer] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Ticking:
        work = {"budget_seconds": self.budget_seconds}
        loops: list[Callable[[], None]] = [
            lambda: self._loop("/ticks/work", work, 0.0) for _ in range(self.workers)
        ]
        loops.append(lambda: self._loop("/ticks/schedule", {"budget_seconds": 1}, 0.3))
        for loop in loops:
            thread = threading.Thread(target=loop, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=90)

    def _loop(self, path: str, body: dict[str, Any], pause: float) -> None:
        while not self.stopped.is_set():
            answer = call(self.stack, "POST", path, body)
            self.answers.append(answer)
            if answer.status != 200:
                time.sleep(0.1)  # a cron would not call again at once either
            self.stopped.wait(pause)


@contextmanager
def running(stack: LocalStack, log: Path) -> Iterator[LocalStack]:
    """The stack with its output copied to ``log`` as it comes: a stack that logs every 503
    would otherwise fill its pipe and block. Stopped with Ctrl-C at the end."""

    def copy() -> None:
        assert stack.process.stdout is not None
        with log.open("a") as out:
            for line in stack.process.stdout:
                out.write(line)
                out.flush()

    copier = threading.Thread(target=copy, daemon=True)
    copier.start()
    try:
        yield stack
    finally:
        if stack.process.poll() is None:
            os.killpg(stack.process.pid, signal.SIGINT)
            try:
                stack.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(stack.process.pid, signal.SIGKILL)
                stack.process.wait()
        copier.join(timeout=10)
