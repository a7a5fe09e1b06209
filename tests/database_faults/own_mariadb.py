"""A MariaDB server of the tests' own, on a free port with its own data directory, so that a
test may kill, restart or set read_only on it: the machine's server is never touched."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from tests.e2e.stack import free_port

START_SECONDS = 60


class OwnMariaDB:
    """``mariadbd`` on 127.0.0.1 with its data under ``root``; root logs in without a password."""

    def __init__(self, root: Path) -> None:
        self.datadir, self.socket = root / "data", root / "mariadb.sock"
        self.log = root / "mariadb.err"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return all(shutil.which(tool) for tool in ("mariadb-install-db", "mariadbd"))

    def install(self) -> None:
        """Make the data directory (system tables, root without a password)."""
        command = [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *self._as_root(),
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self, clock_offset_minutes: int = 0) -> None:
        """Start the server and wait until it takes connections; with an offset, its clock runs
        that many minutes off the machine's (libfaketime)."""
        command = [
            "mariadbd",
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.socket}",
            f"--log-error={self.log}",
            f"--pid-file={self.datadir / 'mariadbd.pid'}",
            "--skip-log-bin",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M",
            "--max-connections=500",
            *self._as_root(),
        ]
        env = {**os.environ, **(_faketime(clock_offset_minutes) if clock_offset_minutes else {})}
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        deadline = time.monotonic() + START_SECONDS
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mariadbd did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def crash(self) -> None:
        """SIGKILL the server, as a host or OOM kill would: InnoDB recovers at the next start."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM); a server that does not stop in time is killed."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.crash()

    def ping(self) -> bool:
        try:
            with self.admin().connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def url(self, database: str = "", user: str = "root", password: str = "") -> str:
        secret = f":{password}" if password else ""
        return f"mysql+pymysql://{user}{secret}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> Engine:
        """A root engine that opens one short connection per use."""
        return create_engine(
            self.url(),
            isolation_level="AUTOCOMMIT",
            poolclass=_null_pool(),
            connect_args={"connect_timeout": 2},
        )

    def run(self, *statements: str) -> None:
        """Run ``statements`` as root."""
        engine = self.admin()
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.execute(text(statement))
        finally:
            engine.dispose()

    @staticmethod
    def _as_root() -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []


FAKETIME_LIBRARIES = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",)


def faketime_library() -> str | None:
    """Debian's libfaketime (apt package libfaketime), if installed."""
    found = [*FAKETIME_LIBRARIES, *map(str, Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))]
    return next((path for path in found if Path(path).exists()), None)


def _faketime(minutes: int) -> dict[str, str]:
    library = faketime_library()
    if library is None:
        raise RuntimeError("libfaketime is not installed (apt-get install libfaketime)")
    # Only the wall clock moves: InnoDB's waits use the monotonic clock.
    return {
        "LD_PRELOAD": library,
        "FAKETIME": f"{minutes:+d}m",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def _null_pool() -> type:
    from sqlalchemy.pool import NullPool

    return NullPool
