"""Builds the Lambda artifact: the code and its pinned dependencies in one zip.

`python -m infra.package` installs requirements.txt for the Lambda platform (manylinux wheels
for CPython 3.11 on x86_64, never a local build) into build/lambda/, adds the project's own
packages and the PDF font, compiles them to hash-checked .pyc, and writes
build/skiplock-lambda.zip. The zip is deterministic (sorted entries, fixed times), so the same
inputs give the same bytes, the same digest and so the same S3 key: deploy.sh uploads it as
skiplock/<digest>.zip.

`python -m infra.package --target gcp` writes build/skiplock-gcp-source.zip instead: the code,
requirements.txt (Cloud Build installs it) and infra/gcp/entry_points.py as the root main.py.

Your own job types go in without a fork: ``--include PATH`` copies a module, a package folder
or any file of yours to the archive's root (``--include ../app/jobs`` makes ``jobs``
importable: ``JOB_MODULES=jobs``), and ``--requirements FILE`` installs your pinned
requirements with the project's (one pip resolution, so a conflict fails the build). Both may
be repeated.

The font: ``fonts/`` holds DejaVu Sans (regular and bold, from Debian's fonts-dejavu-core,
with its copyright file), which the ``pdf`` job type uses when PDF_FONT_PATH is unset, so PDFs
render any Latin, Greek or Cyrillic text. ``--font TTF`` ships another (and its ``-Bold``
sibling): set PDF_FONT_PATH to ``fonts/<its name>``.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.handlers.pdf import FONT_CANDIDATES

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
FONTS = "fonts"  # common/handlers/pdf.py looks for fonts/DejaVuSans.ttf beside common/
DEJAVU_COPYRIGHT = Path("/usr/share/doc/fonts-dejavu-core/copyright")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)

Installer = Callable[[list[str]], None]


@dataclass(frozen=True)
class Additions:
    """What a deployer adds: their files (``--include``), their requirements files, a font
    (None: DejaVu Sans from the system)."""

    include: tuple[Path, ...] = ()
    requirements: tuple[Path, ...] = ()
    font: Path | None = None


def pip_command(requirements: Sequence[Path], target: Path) -> list[str]:
    """The pip call that installs ``requirements`` for the Lambda platform into ``target``."""
    files = [arg for path in requirements for arg in ("--requirement", str(path))]
    return [
        *(sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"),
        *files,
        *("--target", str(target)),
        *("--platform", PLATFORM, "--implementation", "cp"),
        *("--python-version", PYTHON_VERSION, "--only-binary=:all:"),
    ]


def build(
    root: Path = ROOT,
    out: Path = ARTIFACT,
    install: Installer | None = None,
    additions: Additions = Additions(),
) -> Path:
    """Build the artifact at ``out`` from the project at ``root``; return its path."""
    staging = out.parent / "lambda"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    requirements = [root / "requirements.txt", *additions.requirements]
    (install or _run)(pip_command(requirements, staging))
    _add_sources(root, staging, additions)
    compileall.compile_dir(
        staging,
        quiet=1,
        stripdir=str(staging),
        prependdir=LAMBDA_TASK_ROOT,  # where the code runs, for tracebacks and the same bytes
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    write_zip(staging, out)
    return out


class PackageError(ValueError):
    """An option of the packager cannot be honoured."""


def build_gcp_source(
    root: Path = ROOT, out: Path = GCP_SOURCE, additions: Additions = Additions()
) -> Path:
    """Build the Cloud Run functions' source archive at ``out``; return its path."""
    staging = out.parent / "gcp-source"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "requirements.txt").write_text(
        _requirements_text([root / "requirements.txt", *additions.requirements])
    )
    _copy(root / "infra" / "gcp" / "entry_points.py", staging / "main.py")
    _add_sources(root, staging, additions)
    write_zip(staging, out)
    return out


def _add_sources(root: Path, staging: Path, additions: Additions) -> None:
    """The project's packages, the font and the deployer's files, into ``staging``."""
    for source in SOURCES:
        _copy(root / source, staging / source)
    for name, path in font_files(additions.font).items():
        _copy(path, staging / FONTS / name)
    for path in additions.include:
        target = staging / path.name
        if not path.exists():
            raise PackageError(f"--include {path}: no such file or folder")
        if target.exists():
            raise PackageError(f"--include {path}: the archive already has {path.name}")
        _copy(path, target)


def font_files(font: Path | None) -> dict[str, Path]:
    """The font's files to ship, by name: the regular face, its -Bold sibling and, for the
    system's DejaVu, its copyright."""
    regular = font or next((p for p in map(Path, FONT_CANDIDATES) if p.is_file()), None)
    if regular is None or not regular.is_file():
        raise PackageError(
            f"no PDF font: {font or 'DejaVu Sans'} is not there. Install Debian's"
            " fonts-dejavu-core, or pass --font with a TrueType file"
        )
    bold = regular.with_name(f"{regular.stem}-Bold{regular.suffix}")
    files = {path.name: path for path in (regular, bold) if path.is_file()}
    if font is None and DEJAVU_COPYRIGHT.is_file():
        files["DejaVu-copyright"] = DEJAVU_COPYRIGHT
    return files


def _requirements_text(files: Sequence[Path]) -> str:
    """One requirements file from several: Cloud Build installs the archive's only one."""
    parts = [files[0].read_text()]
    parts += [f"# from {path.name}\n{path.read_text()}" for path in files[1:]]
    return "\n".join(part.rstrip("\n") + "\n" for part in parts)


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
    parser.add_argument(
        "--include",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a module, package folder or file of yours, copied to the archive's root",
    )
    parser.add_argument(
        "--requirements",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a requirements file of yours (pinned), installed with the project's",
    )
    parser.add_argument(
        "--font", type=Path, metavar="TTF", help="the PDF font to ship (default: DejaVu Sans)"
    )
    args = parser.parse_args(argv)
    for path in args.requirements:
        if not path.is_file():
            parser.error(f"--requirements {path}: no such file")
    additions = Additions(tuple(args.include), tuple(args.requirements), args.font)
    try:
        if args.target == "gcp":
            out = build_gcp_source(out=args.output or GCP_SOURCE, additions=additions)
        else:
            out = build(out=args.output or ARTIFACT, additions=additions)
    except PackageError as exc:
        parser.error(str(exc))
    print(f"{out} {out.stat().st_size // 1024} KiB sha256={digest(out)}")


if __name__ == "__main__":
    main()
