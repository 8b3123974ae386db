"""The sync state beside the finance table: which copy of each form it holds, and what Yida dropped.

``hc_dd_fktk`` keeps the columns the 轻易云 scheme defined; ``hc_dd_fktk_sync`` holds, per form,
its creation day, the ``version`` and ``modifiedTimeGMT`` of the copy in the table, when it was
first loaded, ``last_seen_at``: when the latest scan that returned it began, and ``gone_since``:
when the scan that stopped returning it began. Everything here runs inside the load's
transaction, so the table and its state never disagree.

The rule, whatever order overlapping runs scan and load in: evidence is dated by when its scan
began. A scan that did not return a form says it is gone only when no scan that began later
returned it; a copy is written only when it is at least as new as the recorded one and no scan
that began later found the form gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dd_refund_pipeline.dingtalk import payload_json
from dd_refund_pipeline.forms.table_sql import FormTables
from dd_refund_pipeline.sqlfiles import with_key_list

GONE_POLICIES = ("flag", "delete")
GONE_POLICY_ENV = "DD_REFUND_GONE_UPSTREAM"
CHUNK = 5000


def check_gone_policy(value: str) -> str:
    """The policy for forms gone upstream, or a ValueError naming the setting."""
    if value not in GONE_POLICIES:
        choices = ", ".join(GONE_POLICIES)
        raise ValueError(f"{GONE_POLICY_ENV} must be one of {choices}, not {value!r}")
    return value


@dataclass(frozen=True)
class SyncScope:
    """What a load knows of Yida for its days.

    ``returned`` is every ``processInstanceId`` a scan proven complete for ``days`` returned in
    this run (rejected ones included), and ``scanned_at`` when that scan began; ``returned`` is
    ``None`` when the run made no such scan (a rebuild from stored files): then nothing is marked
    gone, since older files say nothing about today.
    """

    days: Sequence[str]
    returned: set[str] | None = None
    gone_policy: str = "flag"
    scanned_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.returned is not None and self.scanned_at is None:
            raise ValueError("a scope with the scan's ids needs the time the scan began")

    def seen_at(self, dialect: str) -> Any:
        """When the load's copies were seen in Yida, as the sync state stores it (or None)."""
        if self.returned is None or self.scanned_at is None:
            return None
        return scan_time(self.scanned_at, dialect)


@dataclass
class GoneReport:
    """Forms of the load's days that Yida no longer returns."""

    newly_gone: int = 0
    came_back: int = 0
    removed: int = 0
    adopted: int = 0
    # Table rows whose key no form can have (the key rule: longer than the key columns, padded):
    # never tracked, never deleted, counted here each run of their days.
    unkeyed: int = 0
    # One row per gone form: id, day, order number and amount when its row is (was) in the table.
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)


def _statement(sql: str, *expanding: str) -> sa.TextClause:
    return sa.text(sql).bindparams(*(sa.bindparam(n, expanding=True) for n in expanding))


def select_keys(conn: Connection, sql: str, keys: Sequence[Any], *after: Any) -> list[Any]:
    """The rows the statement ``sql`` selects for ``keys`` (its ``:keys`` list).

    ``after`` are the values of the statement's other parameters, in the order they follow
    the list.
    """
    if not keys:
        return []
    sql = with_key_list(sql, len(keys), conn.dialect.paramstyle, len(after))
    return list(conn.exec_driver_sql(sql, (*keys, *after)).fetchall())


def _chunks(keys: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(keys), CHUNK):
        yield list(keys[start : start + CHUNK])


def older_copies(conn: Connection, tables: FormTables, keys: list[Any], run_id: str) -> set[str]:
    """After the guarded upsert of a batch: the forms whose recorded copy is not this load's.

    A copy that won was recorded with this load's run; the others were older than what the
    sync state holds, or a later scan found the form gone (usually none, so little comes back).
    """
    dialect = "sqlite" if conn.dialect.name == "sqlite" else "mysql"
    sql = tables.sql(f"select_sync.{dialect}.sql")
    return {row[0] for row in select_keys(conn, sql, keys, run_id)}


def _bind_time(value: datetime, dialect: str) -> Any:
    """A naive time as the dialect stores it (SQLite: sortable text)."""
    return value.isoformat(sep=" ") if dialect == "sqlite" else value


def sync_time(dialect: str) -> Any:
    """Now (UTC, whole seconds) as the sync state stores it."""
    return scan_time(datetime.now(tz=timezone.utc), dialect)


def scan_time(moment: datetime, dialect: str) -> Any:
    """A moment as the sync state stores it: naive UTC, whole seconds (DATETIME's precision).

    A naive ``moment`` is taken as UTC.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return _bind_time(moment.replace(microsecond=0), dialect)


def tracked_between(engine: sa.Engine, tables: FormTables, first: str, last: str) -> int:
    """Forms created on the days ``first..last`` that Yida returned last time (0 before any)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(tables.sync):
            return 0
        sql = sa.text(tables.sql("count_tracked_sync.sql"))
        return int(conn.execute(sql, {"first": first, "last": last}).scalar_one())


def reconcile_gone(
    conn: Connection, tables: FormTables, scope: SyncScope, run_id: str, dialect: str
) -> GoneReport:
    """Mark forms of the scope's days that Yida stopped returning; apply the policy.

    Only after a scan proven complete for those days; rows of other days are never touched, and
    a form some scan that began later returned is not gone on this scan's word. A table row no
    sync has recorded (written before this pipeline) whose form date lies in
    the days and that Yida did not return is recorded as gone once; its creation day is unknown,
    so it is reported, never deleted on that evidence.
    """
    report = GoneReport()
    if scope.returned is None or not scope.days:
        return report
    days, returned, scanned = list(scope.days), scope.returned, scope.seen_at(dialect)
    tracked_sql = _statement(tables.sql("tracked_days_sync.sql"), "days")
    tracked = {row[0] for row in conn.execute(tracked_sql, {"days": days, "scanned_at": scanned})}
    gone = sorted(tracked - returned)
    mark_gone = _statement(tables.sql("mark_gone_sync.sql"), "keys")
    for chunk in _chunks(gone):
        conn.execute(mark_gone, {"keys": chunk, "scanned_at": scanned})
    report.newly_gone = len(gone)
    earlier = _gone_rows(conn, tables, days)
    back = sorted(set(earlier["process_instance_id"]) & returned)
    mark_returned = _statement(tables.sql("mark_returned_sync.sql"), "keys")
    for chunk in _chunks(back):
        report.came_back += conn.execute(
            mark_returned, {"keys": chunk, "scanned_at": scanned}
        ).rowcount
    report.adopted = _adopt_untracked(conn, tables, days, returned, (run_id, scanned), report)
    rows = _gone_rows(conn, tables, days)
    if scope.gone_policy == "delete":
        doomed = rows[rows["row_key"].notna() & (rows["adopted"] == 0)]
        for chunk in _chunks(list(doomed["process_instance_id"])):
            result = conn.execute(
                _statement(tables.sql("delete_rows.sql"), "keys"), {"keys": chunk}
            )
            report.removed += result.rowcount
        rows = rows.assign(removed=rows["process_instance_id"].isin(doomed["process_instance_id"]))
    else:
        rows = rows.assign(removed=False)
    report.rows = rows
    return report


def _gone_rows(conn: Connection, tables: FormTables, days: list[str]) -> pd.DataFrame:
    gone_sql = _statement(tables.sql("gone_sync.sql"), "days")
    result = conn.execute(gone_sql, {"days": days})
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    frame["partition_date"] = frame["partition_date"].astype(str)
    frame["adopted"] = frame["adopted"].astype(int)
    rows_sql = _statement(tables.sql("gone_rows.sql"), "keys")
    shown = [c for c in tables.checked if c != tables.key] or ["nothing_checked"]
    held = [
        tuple(row)
        for chunk in _chunks(list(frame["process_instance_id"]))
        for row in conn.execute(rows_sql, {"keys": chunk})
    ]
    stored = pd.DataFrame(held, columns=["row_key", *shown])
    stored = stored.astype({"row_key": object})
    return frame.merge(stored, how="left", left_on="process_instance_id", right_on="row_key")


def _adopt_untracked(
    conn: Connection,
    tables: FormTables,
    days: list[str],
    returned: set[str],
    run: tuple[str, Any],
    report: GoneReport,
) -> int:
    run_id, scanned_at = run
    low = datetime.combine(date.fromisoformat(min(days)), datetime.min.time())
    high = datetime.combine(date.fromisoformat(max(days)), datetime.min.time()) + timedelta(days=1)
    dialect = conn.dialect.name
    bounds = {"low": _bind_time(low, dialect), "high": _bind_time(high, dialect)}
    dated = conn.execute(sa.text(tables.sql("untracked_rows.sql")), bounds).fetchall()
    tracked_sql = _statement(tables.sql("tracked_keys_sync.sql"), "keys")
    tracked = {
        row[0]
        for chunk in _chunks([row[0] for row in dated])
        for row in conn.execute(tracked_sql, {"keys": chunk})
    }
    found = [row for row in dated if row[0] not in tracked]
    unkeyed = [row for row in found if payload_json.key_problem(row[0]) is not None]
    report.unkeyed = len(unkeyed)
    found = [row for row in found if payload_json.key_problem(row[0]) is None]
    orphans = [
        {
            "process_instance_id": row[0],
            "partition_date": str(row[1])[:10],
            "run_id": run_id,
            "now": sync_time(dialect),
            "scanned_at": scanned_at,
        }
        for row in found
        if row[0] not in returned
    ]
    if orphans:
        conn.execute(sa.text(tables.sql("adopt_sync.sql")), orphans)
    return len(orphans)
