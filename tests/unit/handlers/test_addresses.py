"""Email address syntax, checked without the network or a dependency."""

from __future__ import annotations

import pytest

from common.handlers.addresses import normalize_address, sender_address


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("ana@example.com", "ana@example.com"),
        ("Ana.Lopez+jobs@Example.COM", "Ana.Lopez+jobs@example.com"),
        ("o'neil@mail.example.co.uk", "o'neil@mail.example.co.uk"),
        ("x@bücher.de", "x@xn--bcher-kva.de"),
        ("a@xn--bcher-kva.de", "a@xn--bcher-kva.de"),
        ("a@x-y.io", "a@x-y.io"),
    ],
)
def test_normalize_address_accepts_plain_addresses(raw: str, normalized: str) -> None:
    assert normalize_address(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ana",
        "@example.com",
        "ana@",
        "ana@localhost",
        "ana@example",
        "ana@example.123",
        "ana@-example.com",
        "ana@example-.com",
        "ana@exa_mple.com",
        "ana@example..com",
        "ana@example.com.",
        "ana@[192.0.2.1]",
        "a..b@example.com",
        ".ana@example.com",
        "ana.@example.com",
        '"ana"@example.com',
        "ana b@example.com",
        "ünï@example.com",
        "Ana <ana@example.com>",
        "ana@example.com\n",
        "ana@example.com\r\nBcc: eve@example.com",
        "a" * 65 + "@example.com",
        "ana@" + "b" * 64 + ".com",
        "ana@" + ".".join(["b" * 60] * 5) + ".com",
    ],
)
def test_normalize_address_rejects_anything_else(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_address(raw)


@pytest.mark.parametrize(
    ("sender", "address"),
    [
        ("jobs@example.com", "jobs@example.com"),
        ("Jobs <jobs@example.com>", "jobs@example.com"),
        ('"Doe, Jane" <Jane@Example.com>', "Jane@example.com"),
        ("Zażółć <z@bücher.de>", "z@xn--bcher-kva.de"),
    ],
)
def test_sender_address_is_the_bare_address_of_a_sender(sender: str, address: str) -> None:
    assert sender_address(sender) == address


@pytest.mark.parametrize("sender", ["Jobs", "<>", "Doe, Jane <j@example.com>", "a@x.io, b@x.io"])
def test_sender_address_refuses_what_is_not_one_address(sender: str) -> None:
    with pytest.raises(ValueError):
        sender_address(sender)
