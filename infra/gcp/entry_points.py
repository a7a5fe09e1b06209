"""The Cloud Run functions' source root (infra/package.py ships this file as main.py).

functions-framework puts only the source file's own folder on sys.path, so the entry points
must sit at the root of the archive for `functions` and `common` to import. They are the
functions of functions/catalog.py (exported as functions/main.py exports them) and the
migration that infra/gcp/deploy.sh calls once per deploy.
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework

from common.config import Settings
from common.db import migrate
from functions.catalog import CATALOG

_targets = CATALOG.targets()
globals().update(_targets)
__all__ = [*_targets, "migrate_database"]


@functions_framework.http
def migrate_database(request: flask.Request) -> Any:
    """`alembic upgrade head` on DATABASE_URL; private: only IAM-authorized callers reach it."""
    if request.method != "POST":
        return {"error": "POST to migrate"}, 405
    migrate(Settings.from_env().database_url)
    return {"migrated": True}
