"""How one batch of a load reaches the database: through a stage in bulk (MySQL), or row by row.

Both ways apply the same rules in the same transaction: the sync state records each copy first
(the guard of ``sync_guard.mysql.sql`` decides which copy wins), copies that lost are not written,
and the rows' upsert is counted into inserted, updated and unchanged.

- **Staged** (MySQL / MariaDB): the batch goes into a temporary table in one bulk statement, then
  each rule is one statement over it. The bulk statement is a multi-row ``INSERT``, or, when the
  database URL allows it (``?local_infile=1``) and the server does, ``LOAD DATA LOCAL INFILE``
  from a file the load writes in MySQL's own text format: the driver then escapes nothing in
  Python, which is what a load spends most of its time on otherwise.
- **Rows** (SQLite, and a MySQL that refuses the load a temporary table): the batch's rows are
  bound to each statement, as the pipeline always did.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from dd_refund_pipeline.forms.table_sql import LINEAGE_COLUMNS, FormTables
from dd_refund_pipeline.load.sync_state import older_copies, select_keys
from dd_refund_pipeline.sqlfiles import split_statements

# The server's refusals of LOAD DATA LOCAL: not allowed by this server (1148), or its local_infile
# capability is off (MariaDB 4166). The load then stages with INSERT, as without the opt-in.
FILE_REFUSED = {1148, 4166}
# How each load method is named in a load's result and the run's metadata.
STAGED_FILE, STAGED_ROWS, ROWS = "staged_file", "staged_rows", "rows"


class StagedValueError(ValueError):
    """The server could not store a staged value as it is (LOAD DATA warns where INSERT fails)."""


def wants_file(engine: Engine) -> bool:
    """True when the engine's URL opts in to ``LOAD DATA LOCAL INFILE`` (``?local_infile=1``)."""
    return bool(sa.util.asbool(engine.url.query.get("local_infile", False)))


def bindable(frame: pd.DataFrame, dialect: str) -> dict[str, list[Any]]:
    """Columns as lists of plain Python values the driver binds exactly."""
    columns: dict[str, list[Any]] = {}
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_datetime64_any_dtype(series):
            values: list[Any] = _utc_stamps(series).tolist()
        elif isinstance(series.dtype, pd.Int64Dtype):
            values = [None if pd.isna(v) else int(v) for v in series.astype(object)]
        else:
            values = series.astype(object).where(series.notna(), None).tolist()
        if dialect == "sqlite":
            # SQLite has no exact decimal and no datetime type: keep both as their exact text.
            values = [_sqlite_value(v) for v in values]
        columns[name] = values
    return columns


def _utc_stamps(series: pd.Series) -> np.ndarray:
    """A time column as naive microsecond stamps (an aware one converted to UTC first)."""
    naive = series.dt.tz_convert(None) if series.dt.tz is not None else series
    return naive.to_numpy(dtype="datetime64[us]")


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value


class DriverStatement:
    """A ``sql/`` statement compiled once for the driver, executed without per-row SQLAlchemy work.

    SQLAlchemy's parameter processing for ``text()`` costs as much as the driver's own escaping
    on large batches; the statement has no typed binds, so handing the driver its native
    paramstyle directly changes nothing but the speed.
    """

    def __init__(self, conn: Connection, sql: str) -> None:
        # Positional placeholders, rows as tuples: the driver escapes a tuple without building a
        # dict per row (pymysql: ~10% of a 56,000-row load).
        dialect = conn.dialect
        if dialect.paramstyle == "pyformat":
            dialect_class: Any = type(dialect)  # a DefaultDialect: it takes the paramstyle
            dialect = dialect_class(paramstyle="format")
        compiled = sa.text(sql).compile(dialect=dialect)
        self.sql = str(compiled)
        self.order = list(compiled.positiontup or []) if compiled.positional else None

    def rows(self, columns: dict[str, list[Any]], start: int, stop: int) -> list[Any]:
        """Rows ``start:stop`` of ``columns`` as the driver takes them."""
        names = self.order or list(columns)
        chunk = [columns[name][start:stop] for name in names]
        if self.order is not None:
            return list(zip(*chunk, strict=True))
        return [dict(zip(names, row, strict=True)) for row in zip(*chunk, strict=True)]

    def executemany(
        self, conn: Connection, columns: dict[str, list[Any]], start: int, stop: int
    ) -> int:
        """Execute for rows ``start:stop`` of ``columns``; the rows the database reports."""
        return conn.exec_driver_sql(self.sql, self.rows(columns, start, stop)).rowcount


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did: ``written`` newest copies upserted, ``stale`` older ones skipped."""

    written: int
    stale: int
    existing: int
    affected: int

    def counts(self, dialect: str) -> tuple[int, int, int]:
        """Inserted, updated and unchanged rows of the batch.

        MySQL (FOUND_ROWS, as SQLAlchemy connects) reports 1 per insert, 2 per update and 1 per
        unchanged row; SQLite 1 per insert or update and 0 per unchanged row.
        """
        fresh = self.written - self.existing
        changed = self.affected - self.written if dialect == "mysql" else self.affected - fresh
        return fresh, changed, self.existing - changed


@dataclass(frozen=True)
class LoadContext:
    """What every batch of one load shares: its run, and when its copies were seen and loaded."""

    conn: Connection
    tables: FormTables
    dialect: str
    run_id: str
    loaded_at: Any
    # When the copies were seen in Yida (their scan's start); None for a rebuild from files.
    seen_at: Any

    def sync_values(self) -> dict[str, Any]:
        """The sync state's values that are the same for every copy of the load."""
        return {"run_id": self.run_id, "loaded_at": self.loaded_at, "seen_at": self.seen_at}


class RowsWriter:
    """Each statement bound to the batch's rows: SQLite's way, MySQL's when staging is refused."""

    method = ROWS
    # Never a file here: nothing for the server to refuse.
    file_refused: str | None = None

    def __init__(self, load: LoadContext) -> None:
        self.load = load
        tables, dialect = load.tables, load.dialect
        self.rows = DriverStatement(load.conn, tables.sql(f"upsert_rows.{dialect}.sql"))
        self.sync = DriverStatement(load.conn, tables.sql(f"upsert_sync.{dialect}.sql"))
        self.count_existing = tables.sql("count_existing.sql")

    def write(self, batch: pd.DataFrame) -> BatchOutcome:
        """Write a batch of rows with their lineage (the newest copies among them)."""
        columns = self._newest(bindable(batch, self.load.dialect))
        keys = columns[self.load.tables.key]
        if not keys:
            return BatchOutcome(0, len(batch), 0, 0)
        [(existing,)] = select_keys(self.load.conn, self.count_existing, keys)
        affected = self.rows.executemany(self.load.conn, columns, 0, len(keys))
        return BatchOutcome(len(keys), len(batch) - len(keys), existing, affected)

    def _newest(self, columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """Record the batch in the sync state; the batch's rows that are the newest copies.

        The guarded upsert moves each form's state only forward and locks it until commit, so
        an older copy (from older files, or a run whose load finishes after a later one) is
        never written over a newer one, nor a form back that a later scan found gone.
        """
        load = self.load
        keys = columns[load.tables.key]
        size = len(keys)
        sync = {
            "process_instance_id": keys,
            **{name: columns[name] for name in LINEAGE_COLUMNS},
            **{name: [value] * size for name, value in load.sync_values().items()},
        }
        self.sync.executemany(load.conn, sync, 0, size)
        older = older_copies(load.conn, load.tables, keys, load.run_id)
        if not older:
            return columns
        newest = [key not in older for key in keys]
        return {
            name: [v for v, keep in zip(values, newest, strict=True) if keep]
            for name, values in columns.items()
        }

    def close(self) -> None:
        """Nothing to clean up."""


class StagedWriter:
    """The batch in a temporary stage, each rule one statement over it (MySQL / MariaDB)."""

    def __init__(self, load: LoadContext, from_file: bool) -> None:
        self.load, self.from_file = load, from_file
        tables = load.tables
        self.fill_rows = DriverStatement(load.conn, tables.sql("stage_rows.mysql.sql"))
        self.create = split_statements(tables.sql("stage_table.mysql.sql"))
        self.statements = {
            name: sa.text(tables.sql(f"{name}.mysql.sql"))
            for name in (
                "stage_file",
                "upsert_sync_staged",
                "stage_counts",
                "stage_older",
                "stage_existing",
                "upsert_rows_staged",
                "stage_drop",
            )
        }
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        # Why the file could not be used, when it could not (the server's own words).
        self.file_refused: str | None = None

    @property
    def method(self) -> str:
        """How the batches are staged: from a file, or as multi-row VALUES."""
        return STAGED_FILE if self.from_file else STAGED_ROWS

    @classmethod
    def open(cls, load: LoadContext, from_file: bool) -> StagedWriter | None:
        """The stage for one load, or None when the database refuses a temporary table.

        A user without the CREATE TEMPORARY TABLES privilege, or a MySQL whose GTID consistency
        forbids one in a transaction: the load then writes row by row, as correct and slower.
        """
        writer = cls(load, from_file)
        try:
            with load.conn.begin_nested():
                writer._create()
        except DBAPIError:
            return None
        return writer

    def _create(self) -> None:
        # A new stage per batch: emptying one would be a DELETE of every row (TRUNCATE commits).
        for statement in self.create:
            self.load.conn.exec_driver_sql(statement)

    def _run(self, name: str, values: dict[str, Any] | None = None) -> sa.CursorResult[Any]:
        return self.load.conn.execute(self.statements[name], values or {})

    def write(self, batch: pd.DataFrame) -> BatchOutcome:
        """Stage a batch of rows with their lineage, apply it (the newest copies among it)."""
        self._fill(batch)
        self._run("upsert_sync_staged", self.load.sync_values())
        run = {"run_id": self.load.run_id}
        older = int(self._run("stage_counts", run).scalar_one())
        if older:
            self._run("stage_older", run)
        existing = int(self._run("stage_existing").scalar_one())
        affected = self._run("upsert_rows_staged").rowcount
        self._create()
        return BatchOutcome(len(batch) - older, older, existing, affected)

    def _fill(self, batch: pd.DataFrame) -> None:
        if self.from_file:
            try:
                self._fill_from_file(batch)
                return
            except DBAPIError as exc:
                said = list(exc.orig.args) if exc.orig is not None else []
                if not said or said[0] not in FILE_REFUSED:
                    raise
                self.from_file, self.file_refused = False, str(said[-1])
        self.fill_rows.executemany(self.load.conn, bindable(batch, "mysql"), 0, len(batch))

    def _fill_from_file(self, batch: pd.DataFrame) -> None:
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="dd_refund_load_")
        path = Path(self._folder.name) / "batch.txt"
        path.write_text(text_rows(batch), encoding="utf-8")
        loaded = self._run("stage_file", {"path": str(path)}).rowcount
        warnings = self.load.conn.exec_driver_sql("SHOW WARNINGS LIMIT 3").fetchall()
        if warnings or loaded != len(batch):
            said = "; ".join(str(row[2]) for row in warnings) or f"{loaded} of {len(batch)} rows"
            raise StagedValueError(
                f"the database could not store the load's values as they are ({said}); "
                "nothing of this load was written"
            )

    def close(self) -> None:
        """Drop the stage (it would outlive the load on a pooled connection) and its file."""
        self._run("stage_drop")
        if self._folder is not None:
            self._folder.cleanup()


# MySQL's text format for LOAD DATA (its defaults: a tab between fields, a line a row, backslash
# escapes): the characters that would end a field or a line, or start an escape, are escaped.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})
_NULL = "\\N"
_SPECIAL = re.compile(r"[\\\t\n\r\x00]")


def _text(value: Any) -> str:
    """One value as MySQL reads it from a text file; the same text the driver would send."""
    if value is None:
        return _NULL
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        # Plain notation: the exact digits, never an exponent.
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, int | date | float):
        return str(value)
    raise TypeError(f"no text form for a {type(value).__name__} value")


def _text_column(series: pd.Series) -> list[str]:
    """A column's values in MySQL's text format (the common types without a call per value)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = _utc_stamps(series)
        # Whole seconds unless a value has a fraction: the text the driver would send.
        whole = bool((stamps.astype("int64") % 1_000_000 == 0).all())
        texts = np.datetime_as_string(stamps, unit="s" if whole else "us").tolist()
        missing = series.isna().to_numpy()
        return [
            _NULL if gap else t.replace("T", " ") for t, gap in zip(texts, missing, strict=True)
        ]
    if isinstance(series.dtype, pd.Int64Dtype):
        digits = series.to_numpy(dtype="int64", na_value=0).astype(str)
        return np.where(series.isna().to_numpy(), _NULL, digits).tolist()
    values = series.astype(object).where(series.notna(), None).tolist()
    if set(map(type, values)) <= {str, type(None)}:
        # Most columns hold nothing to escape: one scan of the whole column says so.
        if _SPECIAL.search("".join(v for v in values if v is not None)) is None:
            return [_NULL if v is None else v for v in values]
        return [_NULL if v is None else v.translate(_ESCAPES) for v in values]
    return [_text(v) for v in values]


def text_rows(batch: pd.DataFrame) -> str:
    """A batch's rows in MySQL's text format, one line each, its columns in order."""
    texts = [_text_column(batch[name]) for name in batch.columns]
    return "".join(line + "\n" for line in map("\t".join, zip(*texts, strict=True)))
