#!/usr/bin/env bash
# The whole system on 127.0.0.1: `./local/start.sh [--no-cron] [--port 8080]`. Ctrl-C stops it.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$REPO"
exec "$VENV/bin/python" -m local "$@"
