"""What the run ran on: the machine, the servers, the libraries, the commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import psycopg
import redis
from sqlalchemy import Engine

from tests.benchmarks.bench_db import server_settings, server_version
from tests.benchmarks.plan import POSTGRES_URL, REDIS_URL

REPO = Path(__file__).resolve().parents[2]
LIBRARIES = ("sqlalchemy", "pymysql", "functions-framework", "procrastinate", "rq", "psycopg")
MARIADB_SETTINGS = (
    "innodb_buffer_pool_size",
    "innodb_flush_log_at_trx_commit",
    "sync_binlog",
    "log_bin",
)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip()

    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "common") else ""
    return (git("rev-parse", "--short", "HEAD") or "unknown") + dirty


def _postgres_version() -> str:
    try:
        server = POSTGRES_URL.rpartition("/")[0] + "/postgres"
        with psycopg.connect(server, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "unknown"
    except psycopg.Error as exc:
        return f"unreachable ({exc})"


def _redis_version() -> str:
    try:
        return str(
            redis.Redis.from_url(REDIS_URL, socket_timeout=3).info("server")["redis_version"]
        )
    except redis.RedisError as exc:
        return f"unreachable ({exc})"


def describe(engine: Engine) -> dict[str, str]:
    """Facts about this run's machine and software, for the report's header."""
    facts = {
        "cpu": f"{_cpu_model()}, {os.cpu_count()} cores",
        "memory": f"{_memory_gib():.0f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "mariadb": server_version(engine),
        "postgresql": _postgres_version(),
        "redis": _redis_version(),
        "commit": _commit(),
    }
    facts.update({name: metadata.version(name) for name in LIBRARIES})
    settings = server_settings(engine, MARIADB_SETTINGS)
    facts["mariadb settings"] = ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
    return facts


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
