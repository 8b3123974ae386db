"""Writing a form's rows: the target table's schema, and the all-or-nothing upsert.

SQLAlchemy 2 Core over the SQL in ``sql/``: ``INSERT … ON DUPLICATE KEY UPDATE`` on
MySQL/MariaDB and ``INSERT … ON CONFLICT DO UPDATE`` on SQLite (the embedded default), in
multi-row batches, every batch of one load in one transaction. Values always travel as bound
parameters; passwords never leave ``safe_url``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from dd_refund_pipeline.forms.spec import FormSpec
from dd_refund_pipeline.forms.table_sql import LINEAGE_COLUMNS, FormTables
from dd_refund_pipeline.load.batch_writers import (
    ROWS,
    DriverStatement,
    LoadContext,
    RowsWriter,
    StagedWriter,
    bindable,
    wants_file,
)
from dd_refund_pipeline.load.existing_table import compare_columns, fitted_column
from dd_refund_pipeline.load.sync_state import (
    GoneReport,
    SyncScope,
    reconcile_gone,
    select_keys,
    sync_time,
    tracked_between,
)
from dd_refund_pipeline.sqlfiles import split_statements

BATCH_SIZE = 5000
REJECT_FIELDS = ["record_key", "process_instance_id", "field", "reason", "raw_value", "run_id"]
SYNC_FIELDS = [
    "process_instance_id",
    "partition_date",
    "source_version",
    "source_modified_time",
    "last_seen_run",
    "gone_since",
]


class DatabaseError(Exception):
    """The database could not be used; the message names it without its password."""


class SchemaMismatchError(DatabaseError):
    """An existing table does not have what we write; we never alter it on our own."""


class DuplicateKeyError(ValueError):
    """One load holds a key twice: the later copy would silently win."""


@dataclass(frozen=True)
class LoadResult:
    """What one load did to the target table."""

    inserted: int
    updated: int
    unchanged: int
    rejects_recorded: int
    seconds: float
    # Copies older than the one the table holds (a rebuild from older files, a late load).
    stale_skipped: int = 0
    gone: GoneReport = field(default_factory=GoneReport)
    # How the rows reached the database (batch_writers: staged_file, staged_rows or rows), and
    # why a file the URL allowed was refused by the server, when it was.
    method: str = ROWS
    file_refused: str | None = None

    @property
    def rows(self) -> int:
        """Rows written or confirmed (inserted + updated + unchanged)."""
        return self.inserted + self.updated + self.unchanged

    def as_dict(self) -> dict[str, Any]:
        """The load's counts, as the run's metadata shows them."""
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejects_recorded": self.rejects_recorded,
            "stale_skipped": self.stale_skipped,
            "gone_upstream": self.gone.newly_gone,
            "came_back_upstream": self.gone.came_back,
            "removed_gone_upstream": self.gone.removed,
            "rows_without_a_usable_key": self.gone.unkeyed,
            "load_seconds": round(self.seconds, 3),
            "load_method": self.method,
            **({"load_file_refused": self.file_refused} if self.file_refused else {}),
        }


# Query parameters that hold a password for some driver (PyMySQL takes ``?password=``).
_SECRET_PARAMETERS = {"password", "passwd", "pwd", "ssl_key_password"}


def safe_url(url: str | sa.URL) -> str:
    """The URL with its password masked, for logs and errors: in user:password and in the query."""
    try:
        parsed = sa.make_url(url)
    except ArgumentError:
        return "<unparseable database URL>"
    hidden = {key: "***" for key in parsed.query if key.lower() in _SECRET_PARAMETERS}
    shown = parsed.update_query_dict(hidden).render_as_string(hide_password=True)
    return shown.replace("=%2A%2A%2A", "=***")


def _strict_mode(dbapi_connection: Any, _record: Any) -> None:
    # Strict mode turns a value that does not fit into an error instead of a silent truncation.
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES')")


def make_engine(url: str) -> Engine:
    """An engine for a SQLAlchemy URL (``mysql+pymysql://…`` or ``sqlite:///…``)."""
    try:
        parsed = sa.make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(
            "DD_REFUND_DATABASE_URL is not a SQLAlchemy URL (expected e.g. "
            "mysql+pymysql://user:password@host:3306/db or sqlite:///path.db)"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ("mysql", "mariadb", "sqlite"):
        raise DatabaseError(f"unsupported database {safe_url(parsed)}: use MySQL/MariaDB or SQLite")
    if backend in ("mysql", "mariadb"):
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    engine = sa.create_engine(parsed, pool_pre_ping=True)
    if backend in ("mysql", "mariadb"):
        sa.event.listen(engine, "connect", _strict_mode)
    return engine


def dialect_name(engine: Engine) -> str:
    """``mysql`` or ``sqlite``: which of our SQL files the engine speaks."""
    return "sqlite" if engine.dialect.name == "sqlite" else "mysql"


def _connect_error(engine: Engine, exc: BaseException) -> DatabaseError:
    url = engine.url
    where = f"{url.host}:{url.port or 3306}" if url.host else str(url.database)
    reason = str(getattr(exc, "orig", exc)).splitlines()[0]
    return DatabaseError(f"cannot use database {safe_url(url)} ({where}): {reason}")


def check_connection(engine: Engine) -> None:
    """Fail fast, naming host and port (never the password), when the database is unreachable."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except (OperationalError, DBAPIError) as exc:
        raise _connect_error(engine, exc) from None


def existing_columns(engine: Engine, table: str) -> list[Mapping[str, Any]] | None:
    """The columns of ``table`` as the database reports them; None when it does not exist."""
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            if not inspector.has_table(table):
                return None
            return list(inspector.get_columns(table))
    except (OperationalError, DBAPIError) as exc:
        raise _connect_error(engine, exc) from None


def fit_to_table(engine: Engine, spec: FormSpec) -> FormSpec:
    """``spec`` with its columns' limits as the existing target table declares them.

    Every value is checked against the column it goes to (``fitted_column``): a table whose
    amount is DECIMAL(18,4) holds 0.005, ours (18,2) does not, and neither may round
    it. Before the table exists, the spec's own DDL is what will be created.
    """
    table = spec.target.table
    existing = existing_columns(engine, table)
    if existing is None:
        return spec
    by_name = {column["name"]: column for column in existing}
    fitted = [fitted_column(column, by_name.get(column.name)) for column in spec.target.columns]
    table_columns = {**spec.target.table_columns, **{c.name: c.table_column for c in fitted}}
    target = replace(spec.target, columns=fitted, table_columns=table_columns)
    return replace(spec, target=target)


def _check_places(clean: pd.DataFrame, spec: FormSpec) -> None:
    """Refuse amounts with more places than their column: MySQL would round them silently."""
    for column in spec.target.columns:
        if column.table_column.family != "decimal" or column.name not in clean:
            continue
        scale = column.table_column.params[1]
        places = [
            -exponent
            for value in clean[column.name]
            if isinstance(value, Decimal) and isinstance(exponent := value.as_tuple().exponent, int)
        ]
        if places and max(places) > scale:
            raise SchemaMismatchError(
                f"{column.name} values have {max(places)} decimal places but the table holds "
                f"{column.table_column.sql_type}: the table changed since the rows were cleaned; "
                f"clean {spec.name}'s rows again (materialize its rows asset, then "
                f"{spec.target.table})"
            )


def unique_on(inspector: Any, table: str, key: str) -> bool:
    """True when ``table`` has a UNIQUE key (or the primary key) on ``key`` alone."""
    unique_sets = [c["column_names"] for c in inspector.get_unique_constraints(table)]
    unique_sets += [i["column_names"] for i in inspector.get_indexes(table) if i["unique"]]
    unique_sets.append(inspector.get_pk_constraint(table).get("constrained_columns") or [])
    return [key] in [list(columns) for columns in unique_sets]


def verify_table(
    conn: Connection, spec: FormSpec, table: str, written: list[str], key: str | None
) -> None:
    """Refuse an existing table we cannot write into as it is, naming each reason."""
    inspector = sa.inspect(conn)
    existing = inspector.get_columns(table)
    names = {column["name"] for column in existing}
    missing = [name for name in written if name not in names]
    if missing:
        raise SchemaMismatchError(
            f"table {table} exists but lacks the columns {', '.join(missing)} that "
            f"{spec.name} writes ({', '.join(written)}); we never alter an existing table: add "
            f"them as {FormTables.of(spec).ddl_name(table)} declares them, or point "
            "DD_REFUND_DATABASE_URL at another database"
        )
    if table == spec.target.table:
        problems = [
            f"{finding.name} is {finding.theirs}: {finding.reason}"
            for finding in compare_columns(spec, existing, written)
            if finding.verdict == "blocking"
        ]
        if problems:
            raise SchemaMismatchError(
                f"table {table} cannot hold our rows: {'; '.join(problems)}. We never retype a "
                f"column the team owns; `make adopt` prints the whole comparison"
            )
    if key is not None and not unique_on(inspector, table, key):
        raise SchemaMismatchError(
            f"table {table} has no UNIQUE key on {key} alone: without it an upsert cannot keep "
            f"one row per processInstanceId. `make adopt` shows its duplicates and "
            f"`make adopt ARGS=--apply` adds the key (keeping the removed copies in a backup)"
        )


def ensure_schema(engine: Engine, spec: FormSpec) -> list[str]:
    """Create the target and rejects tables when missing, and verify them; returns what it made."""
    dialect = dialect_name(engine)
    created = []
    try:
        with engine.begin() as conn:
            inspector = sa.inspect(conn)
            form_tables = FormTables.of(spec)
            tables = [
                (spec.target.table, spec.target.column_names, spec.target.key),
                (spec.target.rejects_table, REJECT_FIELDS, None),
                (spec.target.sync_table, SYNC_FIELDS, None),
            ]
            for table, written, key in tables:
                if not inspector.has_table(table):
                    for statement in split_statements(form_tables.create_sql(table, dialect)):
                        conn.execute(sa.text(statement))
                    created.append(table)
                verify_table(conn, spec, table, written, key)
    except (OperationalError, DBAPIError) as exc:
        raise _connect_error(engine, exc) from None
    return created


class _Upsert:
    """The upsert of one load: counts what it inserted, updated and left unchanged.

    Small pieces (a day of a short window) are gathered into batches of ``batch_size`` rows:
    one round trip per batch, whatever the pieces' sizes.
    """

    def __init__(self, load: LoadContext, spec: FormSpec, batch_size: int, from_file: bool) -> None:
        self.load, self.spec, self.batch_size = load, spec, batch_size
        staged = StagedWriter.open(load, from_file) if load.dialect == "mysql" else None
        self.writer: StagedWriter | RowsWriter = staged or RowsWriter(load)
        self.inserted = self.updated = self.unchanged = self.stale = 0
        # Keys seen so far as 64-bit hashes in arrays: a window's keys as strings would be
        # 200,000 small objects kept alive across the load.
        self._seen = np.empty(0, dtype=np.uint64)  # sorted
        self._pending: list[pd.DataFrame] = []

    def add(self, clean: pd.DataFrame) -> None:
        _check_places(clean, self.spec)
        key = self.spec.target.key
        hashes = pd.util.hash_pandas_object(clean[key], index=False).to_numpy()
        # A key twice in one load would be written twice, the later copy silently winning.
        at = np.searchsorted(self._seen, hashes).clip(max=max(len(self._seen) - 1, 0))
        earlier = self._seen[at] == hashes if len(self._seen) else np.zeros(len(hashes), bool)
        repeated = int(pd.Series(hashes).duplicated().sum() + earlier.sum())
        if repeated:
            raise DuplicateKeyError(f"{repeated} duplicate {key} values in one load")
        self._seen = np.sort(np.concatenate([self._seen, hashes]))
        self._pending.append(clean)
        if sum(len(piece) for piece in self._pending) >= self.batch_size:
            self.flush(whole_batches_only=True)

    def flush(self, whole_batches_only: bool = False) -> None:
        """Write what is pending; a partial last batch may wait for the next pieces."""
        pending = [piece for piece in self._pending if len(piece)]
        self._pending = []
        if not pending:
            return
        frame = pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)
        ready = len(frame) - len(frame) % self.batch_size if whole_batches_only else len(frame)
        if ready < len(frame):
            self._pending = [frame.iloc[ready:]]
        written = frame[[*self.spec.target.column_names, *LINEAGE_COLUMNS]]
        for start in range(0, ready, self.batch_size):
            outcome = self.writer.write(written.iloc[start : min(start + self.batch_size, ready)])
            inserted, updated, unchanged = outcome.counts(self.load.dialect)
            self.inserted += inserted
            self.updated += updated
            self.unchanged += unchanged
            self.stale += outcome.stale


class _Rejects:
    """The quarantine side of one load: rejected records upserted with their reasons."""

    def __init__(self, conn: Connection, tables: FormTables, dialect: str, run_id: str) -> None:
        self.conn, self.dialect, self.run_id = conn, dialect, run_id
        self.statement = DriverStatement(conn, tables.sql(f"upsert_rejects.{dialect}.sql"))

    def record(self, rejects: pd.DataFrame, batch_size: int) -> int:
        """Upsert ``rejects`` (one row per record and field); how many rows were written."""
        if rejects.empty:
            return 0
        keep = ["record_key", "field"]
        frame = rejects.drop_duplicates(keep).assign(run_id=self.run_id)[REJECT_FIELDS]
        columns = bindable(frame, self.dialect)
        for start in range(0, len(frame), batch_size):
            end = min(start + batch_size, len(frame))
            self.statement.executemany(self.conn, columns, start, end)
        return len(frame)


def load_batches(
    engine: Engine,
    spec: FormSpec,
    batches: Iterable[tuple[pd.DataFrame, pd.DataFrame]],
    run_id: str,
    batch_size: int = BATCH_SIZE,
    scope: SyncScope | None = None,
) -> LoadResult:
    """Upsert cleaned rows and record rejects, batch after batch, in one transaction.

    All of it lands, or none: a window of any size is written without holding it in memory
    at once (each ``(clean, rejects)`` batch, typically a day, is read when its turn comes).
    The sync state moves with the rows: only copies at least as new as the recorded ones are
    written, and with a ``scope`` whose scan was complete, forms of its days that Yida no
    longer returns are marked gone (and, with the ``delete`` policy, their rows removed).
    """
    started = time.monotonic()
    dialect = dialect_name(engine)
    ensure_schema(engine, spec)
    spec = fit_to_table(engine, spec)
    recorded = 0
    try:
        with engine.begin() as conn:
            seen_at = scope.seen_at(dialect) if scope is not None else None
            tables = FormTables.of(spec)
            load = LoadContext(conn, tables, dialect, run_id, sync_time(dialect), seen_at)
            upsert = _Upsert(load, spec, batch_size, wants_file(engine))
            quarantine = _Rejects(conn, tables, dialect, run_id)
            for clean, rejects in batches:
                upsert.add(clean)
                recorded += quarantine.record(rejects, batch_size)
            upsert.flush()
            upsert.writer.close()
            gone = GoneReport()
            if scope is not None:
                gone = reconcile_gone(conn, tables, scope, run_id, dialect)
    except OperationalError as exc:
        raise _connect_error(engine, exc) from None
    counts = (upsert.inserted, upsert.updated, upsert.unchanged)
    elapsed = time.monotonic() - started
    return LoadResult(
        *counts,
        recorded,
        elapsed,
        stale_skipped=upsert.stale,
        gone=gone,
        method=upsert.writer.method,
        file_refused=upsert.writer.file_refused,
    )


def quarantine(engine: Engine, spec: FormSpec, rejects: pd.DataFrame, run_id: str) -> int:
    """Record ``rejects`` in the form's rejects table on their own (no rows); how many."""
    if rejects.empty:
        return 0
    ensure_schema(engine, spec)
    try:
        with engine.begin() as conn:
            tables = FormTables.of(spec)
            return _Rejects(conn, tables, dialect_name(engine), run_id).record(rejects, BATCH_SIZE)
    except OperationalError as exc:
        raise _connect_error(engine, exc) from None


def load_rows(
    engine: Engine,
    spec: FormSpec,
    clean: pd.DataFrame,
    rejects: pd.DataFrame,
    run_id: str,
    batch_size: int = BATCH_SIZE,
    scope: SyncScope | None = None,
) -> LoadResult:
    """Upsert ``clean`` and record ``rejects`` in one transaction: all of it lands, or none."""
    return load_batches(engine, spec, [(clean, rejects)], run_id, batch_size, scope)


def stored_rows(
    engine: Engine, spec: FormSpec, keys: list[str], batch_size: int = BATCH_SIZE
) -> pd.DataFrame:
    """The stored rows of ``keys``: the key and each column a validity rule checks, in batches.

    Dates come back as timestamps and amounts as exact ``Decimal`` (whatever the driver gives).
    """
    tables = FormTables.of(spec)
    statement, columns = tables.sql("select_rows.sql"), list(tables.checked)
    frames = []
    with engine.connect() as conn:
        for start in range(0, len(keys), batch_size):
            rows = select_keys(conn, statement, keys[start : start + batch_size])
            frames.append(pd.DataFrame(rows, columns=columns))
    stored = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    for column in map(spec.target.column, columns):
        value_format = spec.value_format(column)
        if value_format in ("date", "dateTime"):
            stored[column.name] = pd.to_datetime(stored[column.name])
        elif value_format == "amount":
            stored[column.name] = stored[column.name].map(lambda v: Decimal(str(v)))
    return stored


def tracked_forms(engine: Engine, spec: FormSpec, first: str, last: str) -> int:
    """Forms of ``spec`` created on ``first..last`` that Yida returned last time we looked."""
    try:
        return tracked_between(engine, FormTables.of(spec), first, last)
    except (OperationalError, DBAPIError) as exc:
        raise _connect_error(engine, exc) from None


def table_rows(engine: Engine, spec: FormSpec) -> int:
    """How many rows the target table holds (what its overview in the UI should say)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.text(FormTables.of(spec).sql("count_rows.sql"))).scalar_one())


def duplicate_keys(engine: Engine, spec: FormSpec) -> pd.DataFrame:
    """Keys stored more than once in the target table (at most 20, most copies first)."""
    with engine.connect() as conn:
        result = conn.execute(sa.text(FormTables.of(spec).sql("duplicate_keys.sql")))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
