"""Runs everything on 127.0.0.1: moto (S3, SES), the functions behind a gateway, a local cron.

The gateway is served by gunicorn in worker processes, as functions-framework serves a
function; the local cron fires the ticks of functions/catalog.py at it over HTTP.

It refuses to start what could not work (a busy port, job types that do not load), saying
why. Ctrl-C, SIGINT or SIGTERM stop it: gunicorn is told to stop (its ticks then hand back
what they have not started: common/worker.py), and whatever is left of it after
GATEWAY_STOP_SECONDS is killed, so that no process outlives the stack or holds its port.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from moto.server import ThreadedMotoServer

from common import logs
from common.aws import prepare_local_cloud
from common.config import Settings
from common.db import migrate
from common.errors import Misconfigured
from common.handlers.catalog import build_registry
from common.recurring_file import load
from functions.catalog import CATALOG, check_deployment
from local.cron import LocalCron

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{REPO / '.local-stack' / 'skiplock.db'}"
DEFAULT_RECURRING_FILE = str(REPO / "recurring.toml")
# Signs the local stack's webhooks; a deployment sets its own secret.
LOCAL_WEBHOOK_SECRET = "local-webhook-secret"
# gunicorn's graceful timeout: how long a tick told to stop may take to answer.
GRACEFUL_SECONDS = 5
GATEWAY_THREADS = 8  # per worker process
# After this, what is left of the gateway's processes is killed: the stack is down within 10 s.
GATEWAY_STOP_SECONDS = 6.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument(
        "--host",
        default=HOST,
        help="the API gateway's address (default 127.0.0.1; any other needs API_TOKEN)",
    )
    parser.add_argument("--port", type=int, default=8080, help="the API gateway's port")
    parser.add_argument("--moto-port", type=int, default=5000, help="moto's port (S3, SES)")
    parser.add_argument("--workers", type=int, default=4, help="gateway worker processes")
    parser.add_argument(
        "--no-cron", action="store_true", help="do not fire the ticks; drive /ticks/* by hand"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # Our own handlers: a shell starting us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):  # stopped: what had started is stopped
        _run(args)


def _run(args: argparse.Namespace) -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("RECURRING_FILE", DEFAULT_RECURRING_FILE)
    os.environ.setdefault("WEBHOOK_SECRET", LOCAL_WEBHOOK_SECRET)
    moto_url = f"http://{HOST}:{args.moto_port}"
    os.environ.setdefault("AWS_ENDPOINT_URL", moto_url)
    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local")):
        os.environ.setdefault(name, value)
    settings = Settings.from_env()
    logs.configure(settings.log_format, settings.log_level)
    try:
        registry = build_registry(settings)
        check_exposure(args.host, settings)
        check_deployment(settings, registry)
        schedules = load(settings.recurring_file, registry)
        _check_free(args.moto_port, "moto's port (--moto-port)")
        _check_free(args.port, "the API gateway's port (--port)", args.host)
    except (ValueError, Misconfigured) as exc:
        sys.exit(f"skiplock cannot start: {exc}")
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(exist_ok=True)

    say = _reporter(settings)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request
    moto = ThreadedMotoServer(ip_address=HOST, port=args.moto_port, verbose=False)
    moto.start()
    gateway: subprocess.Popen[bytes] | None = None
    cron = None
    try:
        migrate(settings.database_url)  # locally on every start; in the cloud, once per deploy
        prepare_local_cloud(settings)
        gateway = _start_gateway(args.host, args.port, args.workers, settings.log_format)
        base_url = f"http://{_reachable(args.host)}:{args.port}"
        _wait_until_up(base_url + "/openapi.json", gateway)
        if not args.no_cron:
            cron = LocalCron(CATALOG, base_url, settings, report=say)
            cron.start()
        _print_banner(settings, base_url, moto_url, cron is not None, len(schedules))
        _wait_for_stop(gateway, say)
    finally:
        _stop(say, moto, gateway, cron)


def _stop(
    say: Callable[[str], None],
    moto: ThreadedMotoServer,
    gateway: subprocess.Popen[bytes] | None,
    cron: LocalCron | None,
) -> None:
    """Stop everything, a second Ctrl-C or SIGTERM notwithstanding."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    say("stopping ...")
    if cron:
        cron.stop()
    if gateway is not None:
        _stop_gateway(gateway)
    moto.stop()
    say("stopped")


def _check_free(port: int, what: str, host: str = HOST) -> None:
    """Misconfigured when something listens on ``port`` already (a server would not start)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise Misconfigured(f"{what} {host}:{port} is in use: {exc.strerror}") from None


def _reporter(settings: Settings) -> Callable[[str], None]:
    """How the stack says what it does: printed for a person, or a JSON log line each."""
    if settings.log_format == "json":
        return logging.getLogger("skiplock.local").info
    return lambda text: print(text, flush=True)


def check_exposure(host: str, settings: Settings) -> None:
    """Raise ValueError for a gateway that would listen beyond this machine without API_TOKEN.

    Refused rather than warned about: an open gateway lets anyone on the network enqueue jobs
    that send mail, write to the bucket and call URLs, and a warning scrolls by unread.
    """
    if settings.api_token or _is_loopback(host):
        return
    raise ValueError(
        f"--host {host} listens beyond this machine: set API_TOKEN first (every request must"
        " then carry it), or keep the default 127.0.0.1"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def _reachable(host: str) -> str:
    """Where this machine reaches a gateway bound to ``host`` (0.0.0.0 is every address)."""
    if host in ("0.0.0.0", "::", "[::]"):
        return HOST
    return _url_host(host)


def _url_host(host: str) -> str:
    return f"[{host.strip('[]')}]" if ":" in host else host


def _start_gateway(host: str, port: int, workers: int, log_format: str) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "functions.gateway:create_app()",
        "--bind",
        f"{_url_host(host)}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(GATEWAY_THREADS),
        # A worker takes no more connections than it has threads: a tick holds its thread for
        # its whole budget, and a request on a connection that a worker full of ticks accepted
        # would wait for one of them to end while other workers stand idle.
        "--worker-connections",
        str(GATEWAY_THREADS),
        "--timeout",
        "120",
        # Told to stop, a tick answers within 2 s (common/worker.py); a worker still busy after
        # this is killed, its jobs coming back through their leases.
        "--graceful-timeout",
        str(GRACEFUL_SECONDS),
        "--log-level",
        "warning",
        "--config",
        "python:local.gunicorn_conf",
        # gunicorn's largest request line (its default is 4094): long filters and cursors
        # reach the functions, which answer them; past it, a 414 JSON error.
        "--limit-request-line",
        "8190",
    ]
    if log_format == "json":
        command += ["--logger-class", "local.gunicorn_logs.JsonLogger"]
    # Its own process group: we stop it ourselves, and can then kill all that is left of it.
    return subprocess.Popen(command, cwd=REPO, start_new_session=True)


def _stop_gateway(gateway: subprocess.Popen[bytes]) -> None:
    """SIGTERM to gunicorn (its workers' ticks stop claiming and answer), then SIGKILL to any
    of its processes still there after GATEWAY_STOP_SECONDS."""
    gateway.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        gateway.wait(timeout=GATEWAY_STOP_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(gateway.pid, signal.SIGKILL)  # a worker its master left behind, if any
    gateway.wait()


def _wait_until_up(url: str, gateway: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gateway.poll() is not None:
            sys.exit(f"the gateway exited with code {gateway.returncode} (its log above says why)")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answered (401 when API_TOKEN is set): it is up
        except OSError:
            time.sleep(0.1)
    sys.exit(f"the gateway did not answer at {url} within {seconds:g}s")


def _print_banner(
    settings: Settings, base_url: str, moto_url: str, cron: bool, recurring: int
) -> None:
    schedules = ", ".join(f"{s.name} '{s.cron}'" for s in CATALOG.schedules)
    lines = [
        "skiplock local stack is up",
        f"  API gateway   {base_url}   (try: curl {base_url}/jobs)",
        f"  dashboard     {base_url}/dashboard",
        f"  metrics       {base_url}/metrics",
        f"  OpenAPI       {base_url}/openapi.json",
        f"  database      {settings.database_url}",
        f"  moto (S3/SES) {moto_url}   bucket {settings.s3_bucket}, sender {settings.ses_sender}",
        f"  local cron    {schedules}"
        if cron
        else "  local cron    off (--no-cron): POST /ticks/*",
        f"  recurring     {recurring} schedule(s) from {settings.recurring_file or 'nowhere'}"
        f"   (GET {base_url}/recurring)",
        "  auth          " + ("Bearer API_TOKEN required" if settings.api_token else "off"),
        "Ctrl-C stops everything.",
    ]
    _reporter(settings)("\n".join(lines))


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _wait_for_stop(gateway: subprocess.Popen[bytes], say: Callable[[str], None]) -> None:
    try:
        while gateway.poll() is None:
            time.sleep(0.5)
        say(f"the gateway exited with code {gateway.returncode}")
    except KeyboardInterrupt:
        pass
