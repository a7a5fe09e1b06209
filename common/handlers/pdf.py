"""The ``pdf`` job type: render a document (title, paragraphs, a table) and store it in S3.

The same payload always gives the same bytes (the document date is the payload's ``date``,
not the clock), and the key is ``pdf/<job id>.pdf``: a re-run overwrites the object with an
identical one, so the stored sha256 stays true whichever attempt wrote last.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pydantic
import pydantic_core

from common.config import Settings
from common.errors import PermanentJobError
from common.handlers.registry import Job, JobContext, Registry
from common.handlers.storage import StoredObject, put_object

if TYPE_CHECKING:
    from fpdf import FPDF

log = logging.getLogger("skiplock.pdf")
# The folder that holds common/: the package's root in a deployment (/var/task on Lambda).
CODE_ROOT = Path(__file__).resolve().parents[2]
FONT_CANDIDATES = (
    str(CODE_ROOT / "fonts" / "DejaVuSans.ttf"),  # what infra/package.py ships
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",  # Debian, Ubuntu
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",  # Fedora
    "/usr/share/fonts/TTF/DejaVuSans.ttf",  # Arch
)
NO_DATE = datetime(1970, 1, 1, tzinfo=UTC)
MAX_COLUMNS = 20
MAX_ROWS = 5000


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str | int | float):  # bool is an int: shown as True/False
        return str(value)
    raise pydantic_core.PydanticCustomError("cell", "a cell is a string, a number or null")


Cell = Annotated[str, pydantic.BeforeValidator(_cell_text)]


class PdfTable(pydantic.BaseModel):
    """A table: an optional header row, then rows of cells (all with the same width)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    header: list[str] | None = pydantic.Field(default=None, min_length=1, max_length=MAX_COLUMNS)
    rows: list[list[Cell]] = pydantic.Field(min_length=1, max_length=MAX_ROWS)

    @pydantic.field_validator("rows")
    @classmethod
    def _same_width(cls, rows: list[list[Cell]], info: pydantic.ValidationInfo) -> list[list[Cell]]:
        header = info.data.get("header")
        width = len(header) if header else len(rows[0])
        for index, row in enumerate(rows):
            if len(row) != width or not 1 <= width <= MAX_COLUMNS:
                raise pydantic_core.PydanticCustomError(
                    "row_width",
                    "row {index} has {cells} cells; every row needs {width} (at most {limit})",
                    {"index": index, "cells": len(row), "width": width, "limit": MAX_COLUMNS},
                )
        return rows


class PdfPayload(pydantic.BaseModel):
    """What the ``pdf`` job type renders."""

    model_config = pydantic.ConfigDict(extra="forbid")
    title: str = pydantic.Field(min_length=1, max_length=300)
    paragraphs: list[str] = pydantic.Field(default_factory=list, max_length=10_000)
    table: PdfTable | None = None
    date: pydantic.AwareDatetime | None = None


@dataclass(frozen=True)
class PdfFont:
    """The font documents are set in: a Unicode TrueType file, or None for the core Helvetica
    (which only covers Latin-1)."""

    regular: Path | None
    bold: Path | None = None

    def install(self, pdf: FPDF) -> str:
        """Make the font available to ``pdf`` (plain and bold); return its family name."""
        if self.regular is None:
            return "helvetica"
        pdf.add_font("body", "", self.regular)
        pdf.add_font("body", "B", self.bold or self.regular)
        return "body"


def find_font(settings: Settings) -> PdfFont:
    """PDF_FONT_PATH if set (it must exist; a relative path is read from the code's root),
    else the DejaVu Sans the package ships, else the system's."""
    if settings.pdf_font_path:
        path = CODE_ROOT / settings.pdf_font_path  # an absolute path stays as it is
        if not path.is_file():
            raise ValueError(f"PDF_FONT_PATH={path} is not a file")
        return _with_bold(path)
    for candidate in map(Path, FONT_CANDIDATES):
        if candidate.is_file():
            return _with_bold(candidate)
    log.warning("no Unicode font found: PDFs use Helvetica (Latin-1 only); set PDF_FONT_PATH")
    return PdfFont(None)


def _with_bold(regular: Path) -> PdfFont:
    bold = regular.with_name(f"{regular.stem}-Bold{regular.suffix}")
    return PdfFont(regular, bold if bold.is_file() else None)


def render_pdf(payload: PdfPayload, font: PdfFont) -> bytes:
    """The document as PDF bytes; PermanentJobError if the font lacks a character."""
    # Imported here: fpdf2 takes a fifth of a second to load, which submit_job need not pay.
    from fpdf import FPDF
    from fpdf.errors import FPDFUnicodeEncodingException

    pdf = FPDF(format="A4")
    pdf.set_creation_date(payload.date or NO_DATE)
    pdf.set_title(payload.title)
    family = font.install(pdf)
    pdf.add_page()
    try:
        pdf.set_font(family, "B", 18)
        pdf.multi_cell(0, 9, payload.title, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.set_font(family, "", 11)
        for paragraph in payload.paragraphs:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        if payload.table:
            _render_table(pdf, payload.table)
        return bytes(pdf.output())
    except FPDFUnicodeEncodingException as exc:
        raise PermanentJobError(
            f"character {exc.character!r} is not in the core font; set PDF_FONT_PATH to a "
            "Unicode TrueType font"
        ) from None


def _render_table(pdf: FPDF, table: PdfTable) -> None:
    with pdf.table(first_row_as_headings=table.header is not None, text_align="LEFT") as grid:
        for row in [table.header, *table.rows] if table.header else table.rows:
            cells = grid.row()
            for text in row:
                cells.cell(text)


def generate_pdf(job: Job, ctx: JobContext, *, settings: Settings, font: PdfFont) -> StoredObject:
    """Render the job's document and store it at ``pdf/<job id>.pdf``."""
    data = render_pdf(job.payload, font)
    stored = put_object(
        settings, f"pdf/{job.id}.pdf", data, content_type="application/pdf", job_id=job.id
    )
    ctx.logger.info("job %s: stored %s bytes at %s", job.id, stored.bytes, stored.key)
    return stored


def register(registry: Registry, settings: Settings) -> None:
    """Declare the ``pdf`` job type."""
    handler = functools.partial(generate_pdf, settings=settings, font=find_font(settings))
    registry.job_type("pdf", payload=PdfPayload, timeout_seconds=30)(handler)
