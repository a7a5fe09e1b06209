#!/usr/bin/env bash
# The whole test suite: `./tests/run.sh [pytest args]`. Needs MariaDB (127.0.0.1:3306, root)
# and PostgreSQL (127.0.0.1:5432, postgres); in CI (CI=true) their tests fail rather than skip.
source "$(dirname "${BASH_SOURCE[0]}")/../local/bootstrap.sh"
cd "$REPO"
./tests/install_browser.sh  # the dashboard's browser tests drive Debian's chromium
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy"
exec "$VENV/bin/python" -m pytest "$@"
