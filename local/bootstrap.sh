# Sourced by local/start.sh and tests/run.sh: makes .venv and installs the project into it.
# Installs again only when a requirements file or pyproject.toml changed since last time.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SKIPLOCK_VENV:-$REPO/.venv}"
PYTHON="${PYTHON:-python3}"
stamp="$VENV/.skiplock-installed"
wanted="$(cat "$REPO/requirements.txt" "$REPO/requirements-dev.txt" "$REPO/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing requirements into $VENV (first run takes a minute or two)" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$REPO/requirements-dev.txt" -e "$REPO"
  echo "$wanted" > "$stamp"
fi
# The PDF font the packager ships (Debian's fonts-dejavu-core); installed when we may.
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get update -qq && apt-get install -y -qq fonts-dejavu-core >&2; } ||
      echo "warning: could not install fonts-dejavu-core" >&2
  else
    echo "warning: no DejaVu Sans: install fonts-dejavu-core (the deploy package ships it)" >&2
  fi
fi
