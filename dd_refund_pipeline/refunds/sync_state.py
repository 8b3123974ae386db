"""The sync state beside the finance table: which copy of each form it holds, and what Yida dropped.

``hc_dd_fktk`` keeps the columns the 轻易云 scheme defined; ``hc_dd_fktk_sync`` holds, per form,
its creation day, the ``version`` and ``modifiedTimeGMT`` of the copy in the table, when it was
first and last loaded, and ``gone_since``: when a complete scan of its day stopped returning it.
Everything here runs inside the load's transaction, so the table and its state never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

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
    this run (rejected ones included); ``None`` when the run made no such scan (a rebuild from
    stored files): then nothing is marked gone, since older files say nothing about today.
    """

    days: Sequence[str]
    returned: set[str] | None = None
    gone_policy: str = "flag"


@dataclass
class GoneReport:
    """Forms of the load's days that Yida no longer returns."""

    newly_gone: int = 0
    came_back: int = 0
    removed: int = 0
    adopted: int = 0
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


def older_copies(
    conn: Connection, tables: FormTables, keys: list[Any], run_id: str, seen_at: Any
) -> set[str]:
    """After the guarded upsert of a batch: the forms whose recorded copy is not this load's.

    A copy that won was recorded with this load's run and time; the others were older than
    what the sync state holds (usually none, so little comes back).
    """
    dialect = "sqlite" if conn.dialect.name == "sqlite" else "mysql"
    sql = tables.sql(f"select_sync.{dialect}.sql")
    return {row[0] for row in select_keys(conn, sql, keys, run_id, seen_at)}


def _bind_time(value: datetime, dialect: str) -> Any:
    """A naive time as the dialect stores it (SQLite: sortable text)."""
    return value.isoformat(sep=" ") if dialect == "sqlite" else value


def sync_time(dialect: str) -> Any:
    """Now (UTC, whole seconds) as the sync state stores it."""
    return _bind_time(datetime.now(tz=timezone.utc).replace(tzinfo=None, microsecond=0), dialect)


def reconcile_gone(
    conn: Connection, tables: FormTables, scope: SyncScope, run_id: str, dialect: str
) -> GoneReport:
    """Mark forms of the scope's days that Yida stopped returning; apply the policy.

    Only after a scan proven complete for those days; rows of other days are never touched.
    A table row no sync has recorded (written before this pipeline) whose form date lies in
    the days and that Yida did not return is recorded as gone once; its creation day is unknown,
    so it is reported, never deleted on that evidence.
    """
    report = GoneReport()
    if scope.returned is None or not scope.days:
        return report
    days, returned, now = list(scope.days), scope.returned, sync_time(dialect)
    tracked_sql = _statement(tables.sql("tracked_days_sync.sql"), "days")
    tracked = {row[0] for row in conn.execute(tracked_sql, {"days": days})}
    gone = sorted(tracked - returned)
    for chunk in _chunks(gone):
        conn.execute(
            _statement(tables.sql("mark_gone_sync.sql"), "keys"), {"keys": chunk, "now": now}
        )
    report.newly_gone = len(gone)
    earlier = _gone_rows(conn, tables, days)
    back = sorted(set(earlier["process_instance_id"]) & returned)
    for chunk in _chunks(back):
        conn.execute(_statement(tables.sql("mark_returned_sync.sql"), "keys"), {"keys": chunk})
    report.came_back = len(back)
    report.adopted = _adopt_untracked(conn, tables, days, returned, run_id, now)
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
    run_id: str,
    now: Any,
) -> int:
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
    orphans = [
        {
            "process_instance_id": row[0],
            "partition_date": str(row[1])[:10],
            "run_id": run_id,
            "now": now,
        }
        for row in found
        if row[0] not in returned
    ]
    if orphans:
        conn.execute(sa.text(tables.sql("adopt_sync.sql")), orphans)
    return len(orphans)
