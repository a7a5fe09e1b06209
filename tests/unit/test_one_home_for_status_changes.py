"""Only common/transitions.py changes a job's row: no other module issues an UPDATE of jobs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "functions", "infra", "local")
HOME = ROOT / "common" / "transitions.py"
RAW_UPDATE = re.compile(r"\bupdate\s+`?jobs\b", re.IGNORECASE)


def updates_of_jobs(path: Path) -> list[int]:
    """Lines where ``path`` builds an UPDATE of the jobs table, in SQLAlchemy or in SQL text."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and _names_update(node.func):
            if _updates_jobs(node):
                found.append(node.lineno)
        elif isinstance(node, ast.Constant) and RAW_UPDATE.search(str(node.value)):
            found.append(node.lineno)
    return found


def _updates_jobs(call: ast.Call) -> bool:
    """``update(jobs)`` (or ``sa.update(models.jobs)``), or ``jobs.update()``."""
    func = call.func
    if isinstance(func, ast.Attribute) and _is_jobs(func.value):
        return True
    return bool(call.args) and _is_jobs(call.args[0])


def _is_jobs(node: ast.expr) -> bool:
    return isinstance(node, ast.Name | ast.Attribute) and _last_name(node) == "jobs"


def _names_update(func: ast.expr) -> bool:
    return isinstance(func, ast.Name | ast.Attribute) and _last_name(func) == "update"


def _last_name(node: ast.Name | ast.Attribute) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr


def sources() -> list[Path]:
    return [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]


def test_no_module_but_transitions_updates_the_jobs_table() -> None:
    elsewhere = {
        str(path.relative_to(ROOT)): lines
        for path in sources()
        if path != HOME and "migrations" not in path.parts and (lines := updates_of_jobs(path))
    }
    assert elsewhere == {}


def test_the_scan_finds_the_updates_that_transitions_does_issue(tmp_path: Path) -> None:
    # If this found nothing, the test above could not fail either.
    assert len(updates_of_jobs(HOME)) >= 1
    probe = tmp_path / "probe.py"
    probe.write_text(
        "q = update(jobs)\nr = sa.update(models.jobs)\nraw = 'UPDATE jobs SET x = 1'\n"
        "s = jobs.update()\nt = models.jobs.update().values(x=1)\nu = update(job_attempts)\n"
    )
    assert updates_of_jobs(probe) == [1, 2, 3, 4, 5]
