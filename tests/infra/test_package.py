"""The Lambda artifact: what `python -m infra.package` installs and zips.

The real build downloads the pinned wheels from PyPI (about 60 MB); these tests use a stand-in
installer, so they check the command, the contents and the determinism, not the download.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from functions.catalog import CATALOG
from infra import package
from infra.aws.functions import ADAPTER
from tests.infra.template import resources_of

ROOT = Path(__file__).resolve().parents[2]


def fake_install(command: list[str]) -> None:
    """Puts one "dependency" where pip would have put the requirements."""
    target = Path(command[command.index("--target") + 1])
    (target / "fakedep").mkdir()
    (target / "fakedep" / "__init__.py").write_text("VERSION = 1\n")


def test_pip_installs_the_pinned_requirements_as_lambda_wheels(tmp_path: Path) -> None:
    command = package.pip_command(ROOT / "requirements.txt", tmp_path)
    text = " ".join(command)
    assert f"--requirement {ROOT / 'requirements.txt'}" in text
    assert f"--target {tmp_path}" in text
    assert "--platform manylinux2014_x86_64" in text
    assert "--python-version 3.11" in text
    assert "--only-binary=:all:" in command


def test_the_zip_holds_the_code_the_handlers_need(tmp_path: Path) -> None:
    out = package.build(out=tmp_path / "a.zip", install=fake_install)
    names = set(zipfile.ZipFile(out).namelist())
    assert {"fakedep/__init__.py", "functions/catalog.py", "functions/main.py"} <= names
    assert not [n for n in names if n.startswith("infra/")], "the functions need no infra/"
    assert "common/db.py" in names and "common/migrations/env.py" in names
    for function in resources_of("AWS::Lambda::Function").values():
        module, _ = function["Properties"]["Handler"].rsplit(".", 1)
        assert module == ADAPTER and module.replace(".", "/") + ".py" in names
    assert not [n for n in names if "__pycache__" in n and not n.endswith(".pyc")]


def test_the_same_tree_gives_the_same_bytes(tmp_path: Path) -> None:
    first = package.build(out=tmp_path / "one" / "a.zip", install=fake_install)
    second = package.build(out=tmp_path / "two" / "a.zip", install=fake_install)
    assert package.digest(first) == package.digest(second)


def test_the_gcp_source_has_each_target_in_its_root_main(tmp_path: Path) -> None:
    out = package.build_gcp_source(out=tmp_path / "gcp.zip")
    source = tmp_path / "source"
    zipfile.ZipFile(out).extractall(source)
    assert (source / "requirements.txt").read_text() == (ROOT / "requirements.txt").read_text()
    assert not (source / "infra").exists()
    targets = [f.name for f in CATALOG.functions] + ["migrate_database"]
    script = (
        "import sys, functions_framework\n"
        "for target in sys.argv[2:]:\n"
        "    functions_framework.create_app(target=target, source=sys.argv[1] + '/main.py')\n"
        "import functions\n"
        "print(functions.__file__)\n"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-c", script, str(source), *targets],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().startswith(str(source))  # the archive's code, not the repo's
