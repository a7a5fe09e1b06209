"""Email address syntax, checked without a dependency: plain ``local@domain`` addresses only.

What is accepted is what SES and ordinary SMTP servers deliver: an ASCII dot-atom local part
(no quoted strings, no comments, no display names) and a DNS domain, which may be written in
Unicode and is stored in its ASCII (IDNA) form. Deliverability (MX records) is not checked.
"""

from __future__ import annotations

import re
from email.utils import getaddresses, parseaddr
from typing import Annotated

import pydantic
import pydantic_core

ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
LOCAL_PART = re.compile(rf"{ATEXT}(?:\.{ATEXT})*")
LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
MAX_LOCAL_CHARS = 64
MAX_DOMAIN_CHARS = 253
MAX_ADDRESS_CHARS = 254


def normalize_address(raw: str) -> str:
    """``raw`` with its domain lowercased and IDNA-encoded; ValueError if it is not valid."""
    local, at, domain = raw.rpartition("@")
    if not at or not local:
        raise ValueError("must look like name@example.com")
    if len(local) > MAX_LOCAL_CHARS or not LOCAL_PART.fullmatch(local):
        raise ValueError(f"has an invalid part before the @: {local!r}")
    ascii_domain = _ascii_domain(domain)
    address = f"{local}@{ascii_domain}"
    if len(address) > MAX_ADDRESS_CHARS:
        raise ValueError(f"is longer than {MAX_ADDRESS_CHARS} characters")
    return address


def sender_address(sender: str) -> str:
    """The bare address of a sender that may carry a display name: ``Jobs <jobs@example.com>``
    -> ``jobs@example.com``, what SES verifies and IAM names; ValueError if there is none."""
    if len(getaddresses([sender])) != 1:  # a name with a comma must be quoted
        raise ValueError(f"{sender!r} is not one address: quote a display name with a comma")
    return normalize_address(parseaddr(sender)[1])


def _ascii_domain(domain: str) -> str:
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"has an invalid domain: {domain!r}") from None
    labels = ascii_domain.split(".")
    if (
        len(ascii_domain) > MAX_DOMAIN_CHARS
        or len(labels) < 2
        or not all(LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError(f"has an invalid domain: {domain!r}")
    return ascii_domain


def _validate(value: str) -> str:
    try:
        return normalize_address(value)
    except ValueError as exc:
        raise pydantic_core.PydanticCustomError(
            "email_address", "{address} {problem}", {"address": repr(value), "problem": str(exc)}
        ) from None


EmailAddress = Annotated[str, pydantic.AfterValidator(_validate)]
"""A pydantic field type for one address: validated and normalized as ``normalize_address``."""
