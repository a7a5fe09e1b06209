"""common/fingerprint.py: alike errors share a fingerprint, different ones do not."""

from __future__ import annotations

import pytest

from common.fingerprint import FINGERPRINT_LENGTH, fingerprint, pattern


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("timeout after 3051 ms", "timeout after <n> ms"),
        ("job 42 failed: 1.5 s", "job <n> failed: <n> s"),
        (
            "request 6f1c2a9e-51d3-4d1b-9a0e-0e5b7c3f2a11 refused",
            "request <uuid> refused",
        ),
        ("object at 0x7f3a2b1c90d0 is gone", "object at <hex> is gone"),
        ("etag deadbeef12 mismatch", "etag <hex> mismatch"),
        ("no such key 'invoices/2026/7.pdf'", "no such key <str>"),
        ('user "ada" unknown', "user <str> unknown"),
        ("mail to ada.lovelace+x@example.com bounced", "mail to <email> bounced"),
        ("connect to 10.0.3.7:5432 refused", "connect to <ip> refused"),
        ("GET https://api.example.com/v1/x?id=9 gave 503", "GET <url> gave <n>"),
        ("line one\n\tline   two", "line one line two"),
        ("", ""),
        (None, ""),
    ],
)
def test_the_varying_parts_of_an_error_are_replaced(error: str | None, expected: str) -> None:
    assert pattern(error) == expected


def test_errors_that_differ_only_in_what_varies_share_a_fingerprint() -> None:
    one = fingerprint("email", "SMTPRecipientsRefused: 'ada@x.org' (550, 'mailbox 17 full')")
    two = fingerprint("email", "SMTPRecipientsRefused: 'bob@y.net' (550, 'mailbox 903 full')")
    assert one == two
    assert len(one) == FINGERPRINT_LENGTH and int(one, 16) >= 0


def test_another_error_or_another_type_is_another_fingerprint() -> None:
    base = fingerprint("pdf", "JobError: font missing")
    assert fingerprint("pdf", "JobError: disk full") != base
    assert fingerprint("email", "JobError: font missing") != base


def test_words_that_look_like_hex_are_kept() -> None:
    assert pattern("cafe decade added") == "cafe decade added"


def test_a_huge_error_is_cut_to_a_bounded_pattern() -> None:
    assert len(pattern("x " * 100_000)) <= 1000
