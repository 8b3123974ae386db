"""The table follows Yida over time: no older copy over a newer one, and forms gone upstream.

Runs on the embedded SQLite default and on real MariaDB. The rows come from the transform (as in
a run) so that each carries its version and modification time.
"""

from __future__ import annotations

import itertools
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from dd_refund_pipeline.forms.spec import load_form_spec
from dd_refund_pipeline.load.loader import load_batches, load_rows
from dd_refund_pipeline.load.sync_state import SyncScope, check_gone_policy
from dd_refund_pipeline.transform.instances import transform_instances
from dd_refund_pipeline_tests.test_transform import amount, instance

SPEC = load_form_spec("fktk_refund")
DAY = "2026-11-02"  # createTimeGMT 2026-11-01T16:30Z is 2026-11-02 00:30 in China


def forms(*specs: tuple[str, int, str]) -> Any:
    """Cleaned rows of forms (id, version, amount)."""
    raw = [
        instance(processInstanceId=key, version=version, **amount(value))
        for key, version, value in specs
    ]
    return transform_instances(raw, SPEC)


def amounts(engine: sa.Engine) -> dict[str, Decimal]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT extend_processInstanceId, sales_count FROM hc_dd_fktk"))
        return {key: Decimal(str(value)) for key, value in rows}


def sync_rows(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM hc_dd_fktk_sync"))
        return {row.process_instance_id: dict(row._mapping) for row in rows}


def load(engine: sa.Engine, result: Any, run: str, scope: SyncScope | None = None) -> Any:
    return load_rows(engine, SPEC, result.clean, result.rejects, run_id=run, scope=scope)


# -- version guard -----------------------------------------------------------------------------


def test_an_older_copy_never_overwrites_a_newer_one(engine):
    load(engine, forms(("a", 4, "200"), ("b", 1, "10")), "newer-run")
    outcome = load(engine, forms(("a", 3, "100"), ("b", 1, "10")), "rebuild-from-older-files")
    assert outcome.stale_skipped == 1
    assert (outcome.inserted, outcome.updated, outcome.unchanged) == (0, 0, 1)
    assert amounts(engine) == {"a": Decimal("200.00"), "b": Decimal("10.00")}
    state = sync_rows(engine)
    assert state["a"]["source_version"] == 4 and state["a"]["last_seen_run"] == "newer-run"
    assert state["b"]["last_seen_run"] == "rebuild-from-older-files"


def test_same_version_modified_later_wins_and_earlier_loses(engine):
    load(engine, forms(("a", 4, "200")), "r1")
    later = transform_instances(
        [
            instance(
                processInstanceId="a",
                version=4,
                modifiedTimeGMT="2026-11-04T02:00Z",
                **amount("300"),
            )
        ],
        SPEC,
    )
    assert load(engine, later, "r2").updated == 1
    assert load(engine, forms(("a", 4, "200")), "r3").stale_skipped == 1
    assert amounts(engine) == {"a": Decimal("300.00")}


def test_loads_that_finish_in_reverse_order_keep_the_newer_copy(mysql_engine):
    """Run A scanned first (version 3) but its load commits after run B's (version 4)."""
    older, newer = forms(("a", 3, "100")), forms(("a", 4, "200"))
    go = threading.Event()
    outcome: dict[str, Any] = {}

    def held_back() -> Any:
        go.wait(30)  # A's transaction is open; B loads and commits meanwhile
        yield older.clean, older.rejects

    def run_a() -> None:
        outcome["a"] = load_batches(mysql_engine, SPEC, held_back(), run_id="A")

    load(mysql_engine, forms(("a", 2, "50")), "earlier")
    thread = threading.Thread(target=run_a)
    thread.start()
    load(mysql_engine, newer, "B")
    go.set()
    thread.join(60)
    assert outcome["a"].stale_skipped == 1
    assert amounts(mysql_engine) == {"a": Decimal("200.00")}
    assert sync_rows(mysql_engine)["a"]["last_seen_run"] == "B"


# -- gone upstream -----------------------------------------------------------------------------


# Each scan of these tests begins a minute after the one before, as sequential runs' scans do.
_SCANS = (datetime(2026, 11, 20, 2, 30) + timedelta(minutes=n) for n in itertools.count())


def next_scan() -> datetime:
    """The start of the next scan of these tests."""
    return next(_SCANS)


def scope(
    returned: set[str],
    policy: str = "flag",
    days: tuple[str, ...] = (DAY,),
    scanned_at: datetime | None = None,
) -> SyncScope:
    return SyncScope(list(days), returned, policy, scanned_at or next_scan())


def test_flag_keeps_the_row_and_names_it_until_it_comes_back(engine):
    three = forms(("a", 1, "1"), ("b", 1, "2.5"), ("c", 1, "3"))
    load(engine, three, "r1", scope({"a", "b", "c"}))
    both = forms(("a", 1, "1"), ("c", 1, "3"))
    outcome = load(engine, both, "r2", scope({"a", "c"}))
    assert outcome.gone.newly_gone == 1 and outcome.gone.removed == 0
    [gone] = outcome.gone.rows.to_dict("records")
    assert (gone["process_instance_id"], gone["partition_date"]) == ("b", DAY)
    assert gone["order_no_new"] == "FKTK20261102007(FKTK)"
    assert Decimal(str(gone["sales_count"])) == Decimal("2.50")
    assert set(amounts(engine)) == {"a", "b", "c"}
    assert sync_rows(engine)["b"]["gone_since"] is not None
    # Seen again: no longer gone.
    back = load(engine, three, "r3", scope({"a", "b", "c"}))
    assert back.gone.rows.empty and sync_rows(engine)["b"]["gone_since"] is None


def test_delete_removes_the_row_and_keeps_its_state_and_it_can_come_back(engine):
    three = forms(("a", 1, "1"), ("b", 1, "2"), ("c", 1, "3"))
    load(engine, three, "r1", scope({"a", "b", "c"}, "delete"))
    outcome = load(engine, forms(("a", 1, "1"), ("c", 1, "3")), "r2", scope({"a", "c"}, "delete"))
    assert outcome.gone.removed == 1 and list(outcome.gone.rows["removed"]) == [True]
    assert set(amounts(engine)) == {"a", "c"}
    assert sync_rows(engine)["b"]["gone_since"] is not None
    load(engine, three, "r3", scope({"a", "b", "c"}, "delete"))
    assert set(amounts(engine)) == {"a", "b", "c"}
    assert sync_rows(engine)["b"]["gone_since"] is None


def test_a_returned_form_that_is_rejected_now_is_not_gone(engine):
    load(engine, forms(("a", 1, "1"), ("b", 1, "2")), "r1", scope({"a", "b"}, "delete"))
    damaged = transform_instances(
        [
            instance(processInstanceId="a", **amount("1")),
            instance(
                processInstanceId="b",
                version=9,
                data_numberField_lgkiepjv="x",
                data_numberField_lgkiepjv_value="x",
            ),
        ],
        SPEC,
    )
    assert len(damaged.rejects) == 1
    outcome = load(engine, damaged, "r2", scope({"a", "b"}, "delete"))
    assert outcome.gone.newly_gone == 0 and set(amounts(engine)) == {"a", "b"}


def test_nothing_is_marked_gone_without_a_complete_scan_or_outside_the_days(engine):
    load(engine, forms(("a", 1, "1"), ("b", 1, "2")), "r1", scope({"a", "b"}))
    rebuild = load(engine, forms(("a", 1, "1")), "r2", SyncScope([DAY], None, "delete"))
    other_days = load(engine, forms(("a", 1, "1")), "r3", scope({"a"}, "delete", ("2026-11-03",)))
    assert rebuild.gone.newly_gone == other_days.gone.newly_gone == 0
    assert set(amounts(engine)) == {"a", "b"}
    assert all(row["gone_since"] is None for row in sync_rows(engine).values())


def test_rows_written_before_any_sync_are_reported_once_never_deleted(engine):
    """Adoption: a table filled by the 轻易云 scheme, no sync state yet."""
    legacy = forms(("a", 1, "1"), ("b", 1, "2"), ("c", 1, "3"))
    _insert_legacy(engine, legacy)
    day = str(legacy.clean["datetime_new"].iloc[0].date())
    first = load(engine, forms(("a", 1, "1")), "adopting", scope({"a", "b"}, "delete", (day,)))
    assert first.gone.adopted == 1  # c: in the table, not returned; b: returned (rejected or not)
    assert list(first.gone.rows["process_instance_id"]) == ["c"]
    assert set(amounts(engine)) == {"a", "b", "c"}  # never deleted on that evidence
    again = load(engine, forms(("a", 1, "1")), "next", scope({"a", "b"}, "delete", (day,)))
    assert again.gone.adopted == 0


def test_a_load_whose_scan_began_earlier_never_counts_a_later_scans_form_gone(engine):
    """Run A scanned, then run B scanned and loaded a form created in between; A loads last."""
    a_scan, b_scan = next_scan(), next_scan()
    load(
        engine,
        forms(("a", 1, "1"), ("new", 1, "2")),
        "B",
        scope({"a", "new"}, "delete", scanned_at=b_scan),
    )
    late = load(engine, forms(("a", 1, "1")), "A", scope({"a"}, "delete", scanned_at=a_scan))
    assert late.gone.newly_gone == 0 and late.gone.removed == 0
    assert set(amounts(engine)) == {"a", "new"}
    assert sync_rows(engine)["new"]["gone_since"] is None


def test_a_late_load_never_writes_back_a_form_a_later_scan_found_gone(engine):
    """A scanned while b existed; B scanned after b was deleted and removed its row; A loads."""
    load(engine, forms(("a", 1, "1"), ("b", 1, "2")), "r0", scope({"a", "b"}, "delete"))
    a_scan, b_scan = next_scan(), next_scan()
    load(engine, forms(("a", 1, "1")), "B", scope({"a"}, "delete", scanned_at=b_scan))
    assert set(amounts(engine)) == {"a"}
    late = load(
        engine,
        forms(("a", 1, "1"), ("b", 1, "2")),
        "A",
        scope({"a", "b"}, "delete", scanned_at=a_scan),
    )
    assert late.stale_skipped == 1 and late.gone.came_back == 0
    assert set(amounts(engine)) == {"a"}
    assert sync_rows(engine)["b"]["gone_since"] is not None
    # A scan that began after B's sees it again: it is back.
    load(engine, forms(("a", 1, "1"), ("b", 1, "2")), "C", scope({"a", "b"}, "delete"))
    assert set(amounts(engine)) == {"a", "b"}


def test_an_adopted_row_is_ours_once_yida_returns_it_and_goes_when_it_goes(engine):
    """A row found at adoption under its form date's day, created (per Yida) on another day."""
    legacy = forms(("a", 1, "1"), ("c", 1, "3"))
    _insert_legacy(engine, legacy)
    form_day = str(legacy.clean["datetime_new"].iloc[0].date())
    adopting = load(engine, forms(("a", 1, "1")), "adopting", scope({"a"}, "delete", (form_day,)))
    assert adopting.gone.adopted == 1 and sync_rows(engine)["c"]["adopted"] == 1
    # Yida returns c for its creation day: it is an ordinary tracked form from now on.
    load(engine, forms(("a", 1, "1"), ("c", 1, "3")), "r1", scope({"a", "c"}, "delete"))
    assert sync_rows(engine)["c"]["adopted"] == 0
    assert str(sync_rows(engine)["c"]["partition_date"])[:10] == DAY
    # Deleted in Yida later: removed under delete and named by the run that saw it go.
    gone = load(engine, forms(("a", 1, "1")), "r2", scope({"a"}, "delete"))
    assert gone.gone.removed == 1 and "c" not in amounts(engine)
    assert list(gone.gone.rows["process_instance_id"]) == ["c"]


def _insert_legacy(engine: sa.Engine, legacy: Any) -> None:
    """Rows in hc_dd_fktk as the 轻易云 scheme left them: no sync state."""
    with engine.begin() as conn:
        for statement in _ddl(engine):
            conn.execute(sa.text(statement))
        columns = SPEC.target.column_names
        rows = legacy.clean[columns].astype(object).to_dict("records")
        for row in rows:
            row["datetime_new"] = row["datetime_new"].to_pydatetime()
            row["sales_count"] = str(row["sales_count"])
        names = ", ".join(columns)
        conn.execute(
            sa.text(
                f"INSERT INTO hc_dd_fktk ({names}) VALUES ({', '.join(f':{c}' for c in columns)})"
            ),
            rows,
        )


def _ddl(engine: sa.Engine) -> list[str]:
    from dd_refund_pipeline.forms.table_sql import FormTables
    from dd_refund_pipeline.sqlfiles import split_statements

    dialect = "sqlite" if engine.dialect.name == "sqlite" else "mysql"
    return split_statements(FormTables.of(SPEC).create_sql("hc_dd_fktk", dialect))


def test_a_bad_policy_is_named():
    with pytest.raises(ValueError, match="DD_REFUND_GONE_UPSTREAM must be one of flag, delete"):
        check_gone_policy("remove")
    assert check_gone_policy("delete") == "delete"


def test_the_sync_state_records_day_version_and_times(engine):
    load(engine, forms(("a", 3, "1")), "r1", scope({"a"}))
    state = sync_rows(engine)["a"]
    assert str(state["partition_date"])[:10] == DAY
    assert state["source_version"] == 3
    assert str(state["source_modified_time"])[:16] == "2026-11-03 02:00"
    assert state["first_seen_run"] == "r1" and state["first_seen_at"] is not None
    assert state["gone_since"] is None and state["adopted"] == 0


def test_a_copy_without_a_modification_time_counts_as_the_oldest_of_its_version(engine):
    undated = transform_instances(
        [instance(processInstanceId="a", version=3, modifiedTimeGMT=None, **amount("1"))], SPEC
    )
    assert undated.clean["source_modified_time"].isna().all()
    load(engine, undated, "r1")
    assert load(engine, forms(("a", 3, "2")), "r2").updated == 1  # dated, same version: newer
    assert load(engine, undated, "r3").stale_skipped == 1
    assert load(engine, forms(("a", 4, "5")), "r4").updated == 1
    assert amounts(engine) == {"a": Decimal("5.00")}


def test_a_legacy_row_whose_id_no_key_column_holds_does_not_stop_the_load(engine):
    """An adopted table whose key column took ids longer than the sync state's 64 characters."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            for statement in _ddl(engine):
                conn.execute(sa.text(statement))
            conn.execute(
                sa.text(
                    "ALTER TABLE hc_dd_fktk MODIFY extend_processInstanceId VARCHAR(255) NOT NULL"
                )
            )
    legacy = forms(("a", 1, "1"), ("b", 1, "2"))
    legacy.clean.loc[1, "extend_processInstanceId"] = "x" * 100  # what the 轻易云 table held
    _insert_legacy(engine, legacy)
    day = str(legacy.clean["datetime_new"].iloc[0].date())
    outcome = load(engine, forms(("a", 1, "1")), "adopting", scope({"a"}, "delete", (day,)))
    # No form can have that key (the key rule): never tracked nor deleted, counted each run.
    assert (outcome.gone.adopted, outcome.gone.unkeyed) == (0, 1)
    assert outcome.as_dict()["rows_without_a_usable_key"] == 1
    assert set(amounts(engine)) == {"a", "x" * 100}
