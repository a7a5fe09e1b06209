"""Builds the Lambda artifact: the code and its pinned dependencies in one zip.

`python -m infra.package` installs requirements.txt for the Lambda platform (manylinux wheels
for CPython 3.11 on x86_64, never a local build) into build/lambda/, adds the project's own
packages, compiles them to hash-checked .pyc, and writes build/skiplock-lambda.zip. The zip is
deterministic (sorted entries, fixed times), so the same inputs give the same bytes, the same
digest and so the same S3 key: deploy.sh uploads it as skiplock/<digest>.zip.

`python -m infra.package --target gcp` writes build/skiplock-gcp-source.zip instead: the code,
requirements.txt (Cloud Build installs it) and infra/gcp/entry_points.py as the root main.py.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import py_compile
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = ROOT / "build" / "skiplock-lambda.zip"
GCP_SOURCE = ROOT / "build" / "skiplock-gcp-source.zip"
RUNTIME = "python3.11"  # the Lambda runtime; PYTHON_VERSION and PLATFORM must match it
PYTHON_VERSION = "3.11"
ARCHITECTURE = "x86_64"
PLATFORM = "manylinux2014_x86_64"
LAMBDA_TASK_ROOT = "/var/task"
# What the functions import at run time; infra/ describes deployments and is not shipped.
SOURCES = ("common", "functions")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)

Installer = Callable[[list[str]], None]


def pip_command(requirements: Path, target: Path) -> list[str]:
    """The pip call that installs ``requirements`` for the Lambda platform into ``target``."""
    return [
        *(sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"),
        *("--requirement", str(requirements), "--target", str(target)),
        *("--platform", PLATFORM, "--implementation", "cp"),
        *("--python-version", PYTHON_VERSION, "--only-binary=:all:"),
    ]


def build(root: Path = ROOT, out: Path = ARTIFACT, install: Installer | None = None) -> Path:
    """Build the artifact at ``out`` from the project at ``root``; return its path."""
    staging = out.parent / "lambda"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (install or _run)(pip_command(root / "requirements.txt", staging))
    for source in SOURCES:
        _copy(root / source, staging / source)
    compileall.compile_dir(
        staging,
        quiet=1,
        stripdir=str(staging),
        prependdir=LAMBDA_TASK_ROOT,  # where the code runs, for tracebacks and the same bytes
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    write_zip(staging, out)
    return out


def build_gcp_source(root: Path = ROOT, out: Path = GCP_SOURCE) -> Path:
    """Build the Cloud Run functions' source archive at ``out``; return its path."""
    staging = out.parent / "gcp-source"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for source in (*SOURCES, "requirements.txt"):
        _copy(root / source, staging / source)
    _copy(root / "infra" / "gcp" / "entry_points.py", staging / "main.py")
    write_zip(staging, out)
    return out


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copy2(source, target)


def write_zip(source: Path, out: Path) -> None:
    """Zip the tree under ``source`` into ``out``, byte-for-byte the same for the same tree."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), _FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def digest(path: Path) -> str:
    """The artifact's SHA-256, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("lambda", "gcp"), default="lambda")
    parser.add_argument("--output", type=Path, help="the zip to write")
    args = parser.parse_args(argv)
    if args.target == "gcp":
        out = build_gcp_source(out=args.output or GCP_SOURCE)
    else:
        out = build(out=args.output or ARTIFACT)
    print(f"{out} {out.stat().st_size // 1024} KiB sha256={digest(out)}")


if __name__ == "__main__":
    main()
