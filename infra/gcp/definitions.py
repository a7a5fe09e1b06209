"""Writes infra/gcp/definitions.json: the catalog's functions and schedules as Terraform reads
them (Terraform cannot read Python)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from functions.catalog import CATALOG, Catalog

DEFINITIONS_FILE = Path(__file__).with_name("definitions.json")


def as_data(catalog: Catalog) -> dict[str, Any]:
    """The catalog as JSON data, names dashed as Google Cloud resource names must be."""
    functions = [
        {
            "name": f.name.replace("_", "-"),
            "entry_point": f.name,  # the target in the source's main.py
            "trigger": f.trigger,
            "timeout_seconds": f.timeout_seconds,
            "memory_mb": f.memory_mb,
            "routes": [r.key for r in f.routes],
            "uses": list(f.uses),
        }
        for f in catalog.functions
    ]
    schedules = [
        {
            "name": s.name,
            "cron": s.cron,
            "target": s.target.replace("_", "-"),
            "path": catalog.function(s.target).routes[0].path,
            "budget_seconds": s.budget_seconds,
            "budget_setting": s.budget_setting.upper(),
        }
        for s in catalog.schedules
    ]
    return {"functions": functions, "schedules": schedules}


def render(catalog: Catalog) -> str:
    return json.dumps(as_data(catalog), indent=2) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write (or --check) infra/gcp/definitions.json.")
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    text = render(CATALOG)
    if not parser.parse_args(argv).check:
        DEFINITIONS_FILE.write_text(text)
        print(f"wrote {DEFINITIONS_FILE}")
    elif DEFINITIONS_FILE.read_text() != text:
        sys.exit(f"{DEFINITIONS_FILE} is out of date: run `python -m infra.gcp`")
