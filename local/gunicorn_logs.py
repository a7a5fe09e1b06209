"""gunicorn's own log lines (worker timeouts, errors) as JSON, with LOG_FORMAT=json."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from common.logs import formatter


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, its handlers writing the JSON lines of common/logs.py."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter("json"))
