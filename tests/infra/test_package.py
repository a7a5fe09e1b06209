"""The Lambda artifact: what `python -m infra.package` installs and zips.

The real build downloads the pinned wheels from PyPI (about 60 MB); these tests use a stand-in
installer, so they check the command, the contents and the determinism, not the download.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from common.handlers.pdf import CODE_ROOT, FONT_CANDIDATES
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
    theirs = tmp_path / "theirs.txt"
    command = package.pip_command([ROOT / "requirements.txt", theirs], tmp_path)
    text = " ".join(command)
    assert f"--requirement {ROOT / 'requirements.txt'} --requirement {theirs}" in text
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


CUSTOM = ROOT / "tests" / "unit" / "handlers" / "custom_jobs.py"
CUSTOM_REQUIREMENTS = CUSTOM.with_name("custom_jobs-requirements.txt")
THEIRS = package.Additions(include=(CUSTOM,), requirements=(CUSTOM_REQUIREMENTS,))


def test_the_zip_ships_the_pdf_font_where_the_pdf_job_looks(tmp_path: Path) -> None:
    out = package.build(out=tmp_path / "a.zip", install=fake_install)
    names = set(zipfile.ZipFile(out).namelist())
    assert {"fonts/DejaVuSans.ttf", "fonts/DejaVuSans-Bold.ttf"} <= names
    assert "fonts/DejaVu-copyright" in names  # its license travels with it
    shipped = Path(FONT_CANDIDATES[0])  # the first place find_font looks, beside common/
    assert shipped.relative_to(CODE_ROOT).as_posix() == "fonts/DejaVuSans.ttf"


def test_another_font_is_shipped_under_its_own_name(tmp_path: Path) -> None:
    font = tmp_path / "Mine.ttf"
    font.write_bytes(b"not really a font")
    additions = package.Additions(font=font)
    out = package.build(out=tmp_path / "a.zip", install=fake_install, additions=additions)
    fonts = [n for n in zipfile.ZipFile(out).namelist() if n.startswith("fonts/")]
    assert fonts == ["fonts/Mine.ttf"]


def test_a_missing_font_fails_the_build_naming_the_way_out(tmp_path: Path) -> None:
    additions = package.Additions(font=tmp_path / "missing.ttf")
    with pytest.raises(package.PackageError, match="fonts-dejavu-core, or pass --font"):
        package.build(out=tmp_path / "a.zip", install=fake_install, additions=additions)


def test_a_users_module_and_requirements_go_into_the_lambda_zip(tmp_path: Path) -> None:
    commands: list[list[str]] = []

    def install(command: list[str]) -> None:
        commands.append(command)
        fake_install(command)

    out = package.build(out=tmp_path / "a.zip", install=install, additions=THEIRS)
    names = set(zipfile.ZipFile(out).namelist())
    assert "custom_jobs.py" in names  # JOB_MODULES=custom_jobs
    (command,) = commands  # one pip resolution for the project's and the user's requirements
    assert str(CUSTOM_REQUIREMENTS) in command and str(ROOT / "requirements.txt") in command


def test_a_users_module_and_requirements_go_into_the_gcp_source(tmp_path: Path) -> None:
    out = package.build_gcp_source(out=tmp_path / "gcp.zip", additions=THEIRS)
    archive = zipfile.ZipFile(out)
    assert {"custom_jobs.py", "fonts/DejaVuSans.ttf"} <= set(archive.namelist())
    requirements = archive.read("requirements.txt").decode()
    assert requirements.startswith((ROOT / "requirements.txt").read_text())
    assert "PyYAML==6.0.4" in requirements.splitlines()


def test_an_include_that_would_replace_part_of_the_archive_is_refused(tmp_path: Path) -> None:
    clash = tmp_path / "common"
    clash.mkdir()
    additions = package.Additions(include=(clash,))
    with pytest.raises(package.PackageError, match="already has common"):
        package.build_gcp_source(out=tmp_path / "gcp.zip", additions=additions)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--include", "no/such/jobs"], "--include no/such/jobs: no such file or folder"),
        (["--requirements", "no-such.txt"], "--requirements no-such.txt: no such file"),
    ],
)
def test_the_command_exits_2_naming_a_bad_option(
    tmp_path: Path, options: list[str], message: str
) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.package",
            "--target",
            "gcp",
            "--output",
            str(tmp_path / "x.zip"),
            *options,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr
