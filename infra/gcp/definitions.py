"""Writes infra/gcp/definitions.json, the functions and schedules as Terraform reads them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from infra.definitions import Definitions, load

DEFINITIONS_FILE = Path(__file__).with_name("definitions.json")


def as_data(definitions: Definitions) -> dict[str, Any]:
    """The definitions as JSON data, names dashed as Google Cloud resource names must be."""
    functions = [
        {
            "name": f.name.replace("_", "-"),
            "entry_point": f.entry_point,
            "trigger": f.trigger,
            "timeout_seconds": f.timeout_seconds,
            "memory_mb": f.memory_mb,
            "routes": [f"{r.method} {r.path}" for r in f.routes],
            "uses": list(f.uses),
        }
        for f in definitions.functions
    ]
    schedules = [
        {
            "name": s.name,
            "cron": s.cron,
            "target": s.target.replace("_", "-"),
            "path": definitions.function(s.target).routes[0].path,
            "budget_seconds": s.budget_seconds,
        }
        for s in definitions.schedules
    ]
    return {"functions": functions, "schedules": schedules}


def render(definitions: Definitions) -> str:
    return json.dumps(as_data(definitions), indent=2) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write (or --check) infra/gcp/definitions.json.")
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    text = render(load())
    if not parser.parse_args(argv).check:
        DEFINITIONS_FILE.write_text(text)
        print(f"wrote {DEFINITIONS_FILE}")
    elif DEFINITIONS_FILE.read_text() != text:
        sys.exit(f"{DEFINITIONS_FILE} is out of date: run `python -m infra.gcp`")
