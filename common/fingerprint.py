"""The fingerprint of a dead-lettered job's error: its type plus the error with the parts that
vary between occurrences replaced, so that the DLQ can be read as a few groups of alike
failures rather than as thousands of jobs.

``pattern`` is what a person reads ("ConnectionError: refused by <ip> after <n> ms"); the
fingerprint is a short hash of the type and the pattern, what the jobs table stores and indexes.
"""

from __future__ import annotations

import hashlib
import re

FINGERPRINT_LENGTH = 16  # hex digits: 64 bits, no collision among any realistic set of errors
MAX_PATTERN_CHARS = 1000  # long messages (tracebacks, dumped bodies) differ past this anyway

# In this order: a UUID holds hex and digits, an email or URL holds numbers and quotes.
_VARYING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I), "<uuid>"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I), "<url>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}\b", re.I), "<ip>"),
    (re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`"), "<str>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I), "<hex>"),
    (re.compile(r"[-+]?\d+(?:[.,]\d+)*"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def pattern(error: str | None) -> str:
    """``error`` with the parts that vary (numbers, ids, hex, UUIDs, quoted values, addresses)
    replaced by placeholders, and runs of whitespace made one space."""
    text = (error or "")[: MAX_PATTERN_CHARS * 2]
    for varying, placeholder in _VARYING:
        text = varying.sub(placeholder, text)
    return text.strip()[:MAX_PATTERN_CHARS]


def fingerprint(job_type: str, error: str | None) -> str:
    """The fingerprint of ``error`` raised by a job of ``job_type``: equal for alike failures."""
    digest = hashlib.sha256(f"{job_type}\n{pattern(error)}".encode())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]
