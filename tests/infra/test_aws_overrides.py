"""deploy.sh's overrides: checked before anything is built, SesIdentity derived from SesSender."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.aws.overrides import overrides


def test_a_display_name_sender_gets_its_bare_address_as_the_identity() -> None:
    assert overrides(["SesSender=Jobs <Jobs@Example.COM>"]) == [
        "SesSender=Jobs <Jobs@Example.COM>",
        "SesIdentity=Jobs@example.com",
    ]


def test_a_bare_sender_is_its_own_identity_and_a_given_identity_is_kept() -> None:
    assert overrides(["SesSender=jobs@example.com"])[1] == "SesIdentity=jobs@example.com"
    given = overrides(["SesSender=Jobs <a@example.com>", "SesIdentity=example.com@x.io"])
    assert given == ["SesSender=Jobs <a@example.com>", "SesIdentity=example.com@x.io"]


def test_a_setting_may_be_named_as_the_readme_names_it() -> None:
    assert overrides(["MAX_ATTEMPTS=8", "WorkerBatchSize=20", "PDF_FONT_PATH=fonts/X.ttf"]) == [
        "MaxAttempts=8",
        "WorkerBatchSize=20",
        "PdfFontPath=fonts/X.ttf",
    ]


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("MaxAttempt=8", "MaxAttempt: neither a parameter"),
        ("MaxAttempts", "expected Parameter=Value"),
        ("SMTP_PASSWORD=hunter2", "SMTP_PASSWORD is a secret"),
        ("SesSender=Doe, Jane <jane@example.com>", "SesSender: .* quote a display name"),
        ("SesSender=Jobs", "SesSender: .*must look like name@example.com"),
    ],
)
def test_a_bad_override_is_refused_naming_it(argument: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        overrides([argument])


def test_the_command_exits_2_naming_the_override() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "infra.aws.overrides", "VpcId=vpc-1", "LeaseSecond=130"],
        capture_output=True,
        text=True,
    )
    assert (run.returncode, run.stdout) == (2, "")
    assert "LeaseSecond" in run.stderr and "Traceback" not in run.stderr
