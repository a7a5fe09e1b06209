"""The worker's hot writes, compiled once and sent as the driver's own SQL.

SQLAlchemy executes even a cached statement at a cost: it computes the statement's cache key
by walking it, then builds and processes the parameters. For the writes a worker makes for
every batch (take the leases, record the attempts, succeed) that was 60-100 µs of CPU per
statement, more than PyMySQL spends sending it (`python -m tests.benchmarks.driver_sql`).
A ``DriverStatement`` is compiled once per dialect and sent with ``exec_driver_sql``, which
keeps SQLAlchemy's transaction and its error wrapping (deadlocks are still retried).

Its parameters must need no type processing (integers, strings, naive datetimes, None), and
its one expanding parameter, ``ids``, holds integers, rendered inline. MySQL/MariaDB (PyMySQL)
and PostgreSQL (psycopg) take the driver SQL; on SQLite, whose driver has another parameter
style, the statement runs through SQLAlchemy as usual. Many rows go as the driver's
executemany: PyMySQL rewrites an INSERT into one multi-row INSERT; psycopg pipelines them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

DRIVER_DIALECTS = frozenset({"mysql", "mariadb", "postgresql"})
IDS = "__[POSTCOMPILE_ids]"  # how SQLAlchemy marks the expanding ``ids`` in compiled SQL
POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_(\w+)\]")


class DriverStatement:
    """``statement``, sent as driver SQL where the dialect allows (see the module)."""

    def __init__(self, statement: UpdateBase) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> CursorResult[Any]:
        """Run the statement with ``params``."""
        if conn.dialect.name not in DRIVER_DIALECTS:
            return conn.execute(self.statement, params)
        compiled = self._compile(conn.dialect, tuple(params))
        values = {**compiled.constants, **params}
        return conn.exec_driver_sql(compiled.sql(values.pop("ids", None)), values)

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row of ``rows`` (alike): an INSERT goes as one."""
        if conn.dialect.name not in DRIVER_DIALECTS:
            conn.execute(self.statement, rows)
            return
        compiled = self._compile(conn.dialect, tuple(rows[0]))
        conn.exec_driver_sql(compiled.sql(None), [{**compiled.constants, **row} for row in rows])

    def _compile(self, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled:
        key = (dialect.name, keys)
        if key not in self._compiled:
            compiled = self.statement.compile(dialect=dialect, column_keys=list(keys))
            self._compiled[key] = _Compiled(compiled, dialect.paramstyle)
        return self._compiled[key]


class _Compiled:
    """One dialect's SQL of a statement, split around ``ids``, and its constant parameters
    (the statement's own bound values: a status, a literal; the caller's go over them)."""

    def __init__(self, compiled: SQLCompiler, paramstyle: str) -> None:
        if paramstyle != "pyformat":
            raise ValueError(f"a DriverStatement is for pyformat drivers, not {paramstyle}")
        text = compiled.string
        constants = {
            name: bind.value for bind, name in compiled.bind_names.items() if not bind.required
        }
        # The statement's own expanding values (status IN (...)) become plain parameters.
        for name in POSTCOMPILE.findall(text):
            if name == "ids":
                continue
            if name not in constants:
                raise ValueError(f"{name}: only ``ids`` may be given as a list at execution")
            values = list(constants.pop(name) or ())
            names = [f"{name}_{i}" for i in range(len(values))]
            constants.update(zip(names, values, strict=True))
            text = text.replace(f"__[POSTCOMPILE_{name}]", ", ".join(f"%({n})s" for n in names))
        constants.pop("ids", None)
        self.parts = text.split(IDS)
        self.constants = constants

    def sql(self, ids: Sequence[int] | None) -> str:
        if len(self.parts) == 1:
            return self.parts[0]
        if not ids:
            raise ValueError("a DriverStatement with ``ids`` needs at least one")
        inline = ",".join(str(int(job_id)) for job_id in ids)
        return inline.join(self.parts)
