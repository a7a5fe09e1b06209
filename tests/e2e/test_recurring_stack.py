"""The local stack with RECURRING_FILE: a bad file stops it, naming the table and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.stack import start_stack


def test_a_bad_recurring_file_stops_the_stack_naming_the_table_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "recurring.toml"
    bad.write_text('[[recurring]]\nname = "nightly"\ncron = "30 2 * * *"\ntype = "nope"\n')
    with pytest.raises(RuntimeError) as stopped:
        start_stack({"RECURRING_FILE": str(bad), "DATABASE_URL": f"sqlite:///{tmp_path}/s.db"})
    output = str(stopped.value)
    assert "skiplock cannot start" in output
    assert "recurring[1] ('nightly').type: unknown job type 'nope'" in output
