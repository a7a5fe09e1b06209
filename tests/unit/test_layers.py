"""Imports go one way: infra/ (and local/) import functions/ and common/, never the reverse,
so the deployed code needs no deployment descriptors."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("functions", "common")  # what infra/package.py ships
MODULES = sorted(path for package in SHIPPED for path in (REPO / package).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """The modules ``path`` imports, by their full dotted names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_modules_are_found() -> None:
    assert REPO / "functions" / "catalog.py" in MODULES
    assert "functions.catalog" in imported(REPO / "functions" / "gateway.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_shipped_code_never_imports_infra_or_local(path: Path) -> None:
    layers = {name.split(".")[0] for name in imported(path)}
    assert not layers & {"infra", "local"}, f"{path.relative_to(REPO)} imports {layers}"
