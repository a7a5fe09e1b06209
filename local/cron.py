"""A local cron: fires each schedule of the catalog at the gateway, as the cloud would."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime

from croniter import croniter

from common.config import Settings
from functions.catalog import Catalog, Schedule


class LocalCron:
    """Fires every schedule once at start, then on its cron expression, each in its own thread
    (ticks may overlap, as with a cloud scheduler)."""

    def __init__(
        self,
        catalog: Catalog,
        base_url: str,
        settings: Settings,
        report: Callable[[str], None] = print,
    ) -> None:
        """Each tick asks for the budget ``settings`` give it, with SCHEDULER_TOKEN (or
        API_TOKEN) as its bearer token."""
        self.catalog, self.base_url, self.settings = catalog, base_url, settings
        self.token = settings.scheduler_token or settings.api_token
        self.report = report
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="local-cron", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        now = datetime.now(UTC)
        due = {s.name: now for s in self.catalog.schedules}
        while not self.stopped.is_set():
            now = datetime.now(UTC)
            for schedule in self.catalog.schedules:
                if now >= due[schedule.name]:
                    threading.Thread(target=self.fire, args=(schedule,), daemon=True).start()
                    due[schedule.name] = croniter(schedule.cron, now).get_next(datetime)
            self.stopped.wait(max(0.0, min((t - now).total_seconds() for t in due.values())))

    def fire(self, schedule: Schedule) -> None:
        """POST the schedule's tick to the gateway and report what it did."""
        route = self.catalog.function(schedule.target).routes[0]
        budget = schedule.budget(self.settings)
        body = json.dumps({"budget_seconds": budget}).encode()
        request = urllib.request.Request(
            self.base_url + route.path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        started = time.monotonic()
        self.report(f"cron  {schedule.name}: {route.method} {route.path}")
        try:
            with urllib.request.urlopen(request, timeout=budget + 30) as answer:
                summary = answer.read().decode()
        except urllib.error.HTTPError as exc:
            summary = f"HTTP {exc.code} {exc.read().decode()}"
        except OSError as exc:
            summary = f"failed: {exc}"
        self.report(f"cron  {schedule.name} done in {time.monotonic() - started:.1f}s: {summary}")
