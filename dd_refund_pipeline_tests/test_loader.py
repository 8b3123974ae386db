"""The upsert into hc_dd_fktk: exact, idempotent, all-or-nothing; on SQLite and real MariaDB."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.generator import generate_instances
from dd_refund_pipeline.forms.spec import load_form_spec
from dd_refund_pipeline.load.loader import (
    DatabaseError,
    SchemaMismatchError,
    check_connection,
    ensure_schema,
    fit_to_table,
    load_batches,
    load_rows,
    make_engine,
    safe_url,
)
from dd_refund_pipeline.sqlfiles import without_comments
from dd_refund_pipeline.transform.instances import transform_instances
from dd_refund_pipeline_tests.test_transform import amount, fitted, instance

SPEC = load_form_spec("fktk_refund")
AS_OF = datetime(2026, 11, 20, 15, 0, tzinfo=CHINA_TZ)
COLUMNS = SPEC.target.column_names


def table_rows(engine: sa.Engine, table: str = "hc_dd_fktk") -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY extend_processInstanceId"))
        return [dict(row._mapping) for row in found]


def normalised(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Table rows as comparable tuples (SQLite keeps the amount and time as exact text)."""
    out = []
    for row in rows:
        when = row["datetime_new"]
        when = when if isinstance(when, datetime) else datetime.fromisoformat(when)
        out.append(
            (
                row["extend_processInstanceId"],
                row["order_no_new"],
                when,
                int(row["qty_count"]),
                Decimal(str(row["sales_count"])),
                row["status"],
                row["Document_Type"],
            )
        )
    return out


def frame_rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    ordered = frame.sort_values("extend_processInstanceId")
    return [
        (r[0], r[1], r[2].to_pydatetime(), int(r[3]), r[4], r[5], r[6])
        for r in ordered[COLUMNS].itertuples(index=False)
    ]


def generated(count: int = 600, seed: int = 5, malformed_rate: float = 0.0):
    _, made = generate_instances(SPEC, count, seed=seed, as_of=AS_OF, malformed_rate=malformed_rate)
    return transform_instances([m.payload for m in made], SPEC)


def test_rows_land_exactly(engine):
    result = generated()
    outcome = load_rows(engine, SPEC, result.clean, result.rejects, run_id="run-1")
    assert (outcome.inserted, outcome.updated, outcome.unchanged) == (len(result.clean), 0, 0)
    assert normalised(table_rows(engine)) == frame_rows(result.clean)


def test_a_second_load_changes_nothing(engine):
    result = generated()
    load_rows(engine, SPEC, result.clean, result.rejects, run_id="run-1")
    before = table_rows(engine)
    time.sleep(1.1)  # updated_at has one-second resolution
    again = load_rows(engine, SPEC, result.clean, result.rejects, run_id="run-2")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(result.clean))
    assert table_rows(engine) == before  # updated_at included: nothing was rewritten


def test_a_modified_instance_updates_its_row_only(engine):
    raw = [instance(processInstanceId=f"id-{n}", **amount(str(10 + n))) for n in range(5)]
    first = transform_instances(raw, SPEC)
    load_rows(engine, SPEC, first.clean, first.rejects, run_id="r1")
    before = {row["extend_processInstanceId"]: row for row in table_rows(engine)}
    time.sleep(1.1)
    raw[2] = instance(
        processInstanceId="id-2",
        version=4,
        **amount("99.9"),
        data_serialNumberField_lgk9jn2s="FKTK20261102099",
    )
    second = transform_instances(raw, SPEC)
    outcome = load_rows(engine, SPEC, second.clean, second.rejects, run_id="r2")
    assert (outcome.inserted, outcome.updated, outcome.unchanged) == (0, 1, 4)
    after = {row["extend_processInstanceId"]: row for row in table_rows(engine)}
    assert Decimal(str(after["id-2"]["sales_count"])) == Decimal("99.90")
    assert after["id-2"]["order_no_new"] == "FKTK20261102099(FKTK)"
    assert after["id-2"]["updated_at"] != before["id-2"]["updated_at"]
    assert after["id-2"]["created_at"] == before["id-2"]["created_at"]
    for key in ("id-0", "id-1", "id-3", "id-4"):
        assert after[key] == before[key]


def test_rejects_are_recorded_with_reasons(engine):
    result = generated(800, seed=9, malformed_rate=0.05)
    assert len(result.rejects) > 10
    outcome = load_rows(engine, SPEC, result.clean, result.rejects, run_id="run-1")
    assert outcome.rejects_recorded == len(result.rejects)
    recorded = table_rows_rejects(engine)
    assert {(r["record_key"], r["field"], r["reason"]) for r in recorded} == set(
        zip(
            result.rejects["record_key"],
            result.rejects["field"],
            result.rejects["reason"],
            strict=True,
        )
    )
    first_seen = {r["record_key"]: r["first_seen"] for r in recorded}
    time.sleep(1.1)
    load_rows(engine, SPEC, result.clean, result.rejects, run_id="run-2")
    again = table_rows_rejects(engine)
    assert len(again) == len(recorded)
    assert all(r["run_id"] == "run-2" for r in again)
    assert all(first_seen[r["record_key"]] == r["first_seen"] for r in again)
    assert all(str(r["last_seen"]) > str(r["first_seen"]) for r in again)


def table_rows_rejects(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM hc_dd_fktk_rejects"))]


@pytest.mark.parametrize(
    "value",
    [
        'O\'Brien "quoted"',
        "C:\\path\\n\\N",
        "1); DELETE FROM hc_dd_fktk; --",
        "NULL",
        "退款🙂🚀",
        "tab\tand\nnewline",
        "",
    ],
)
def test_awkward_text_is_stored_verbatim(engine, value):
    raw = instance(data_serialNumberField_lgk9jn2s=f"FK{value}", instanceStatus=value or "X")
    result = transform_instances([raw], SPEC)
    load_rows(engine, SPEC, result.clean, result.rejects, run_id="r")
    [row] = table_rows(engine)
    assert row["order_no_new"] == f"FK{value}(FKTK)"
    assert row["status"] == (value or "X")


def test_fifty_thousand_rows_in_one_transaction(mysql_engine):
    result = generated(52_000, seed=21)
    assert len(result.clean) >= 50_000
    outcome = load_rows(mysql_engine, SPEC, result.clean, result.rejects, run_id="big")
    assert outcome.inserted == len(result.clean)
    with mysql_engine.connect() as conn:
        count, total = conn.execute(
            sa.text("SELECT COUNT(*), SUM(sales_count) FROM hc_dd_fktk")
        ).one()
    assert count == len(result.clean)
    assert total == sum(result.clean["sales_count"])


def test_a_failure_in_the_middle_leaves_the_table_as_it_was(engine):
    result = generated(600, seed=5)
    load_rows(engine, SPEC, result.clean.iloc[:100], result.rejects, run_id="r1")
    before = table_rows(engine)
    broken = result.clean.copy()
    # A value the database refuses, in the fourth batch of 100: earlier batches were already sent.
    broken.loc[broken.index[350], "status"] = None
    with counting_upserts(engine) as upserts, pytest.raises(sa.exc.IntegrityError):
        load_rows(engine, SPEC, broken, result.rejects, run_id="r2", batch_size=100)
    assert len(upserts) == 4  # three whole batches went to the database before the bad one
    assert table_rows(engine) == before


@contextlib.contextmanager
def counting_upserts(engine: sa.Engine) -> Iterator[list[str]]:
    """The statements that sent a batch of hc_dd_fktk's rows while the block runs.

    Straight into the table, or into the load's stage (as VALUES or from a file).
    """
    inserts: list[str] = []
    batch = re.compile(r"INSERT INTO\W+hc_dd_fktk(_stage)?\W+\([^)]*\)\s*VALUES|LOAD DATA")

    def count(conn, cursor, statement, *args):
        if batch.search(statement):
            inserts.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield inserts
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_rows_fed_a_day_at_a_time_land_exactly(engine):
    result = generated(600, seed=5)
    days = [(day, pd.DataFrame()) for _, day in result.clean.groupby("partition_date")]
    assert len(days) > 1
    outcome = load_batches(engine, SPEC, iter(days), run_id="r1")
    assert (outcome.inserted, outcome.updated, outcome.unchanged) == (len(result.clean), 0, 0)
    assert normalised(table_rows(engine)) == frame_rows(result.clean)


def test_small_pieces_are_gathered_into_full_batches(engine):
    result = generated(600, seed=5)
    pieces = [(result.clean.iloc[n : n + 30], pd.DataFrame()) for n in range(0, 300, 30)]
    ensure_schema(engine, SPEC)
    with counting_upserts(engine) as inserts:
        outcome = load_batches(engine, SPEC, iter(pieces), run_id="r", batch_size=100)
    assert outcome.inserted == 300 and len(inserts) == 3  # not one per piece


def test_a_key_repeated_in_a_later_batch_stops_the_whole_load(engine):
    result = generated(600, seed=5)
    first, second = result.clean.iloc[:300], result.clean.iloc[299:]  # one key in both
    with pytest.raises(ValueError, match="1 duplicate extend_processInstanceId"):
        load_batches(
            engine, SPEC, iter([(first, result.rejects), (second, pd.DataFrame())]), run_id="r"
        )
    assert table_rows(engine) == []  # the first batch was rolled back with it


def test_an_existing_table_that_differs_is_refused_not_altered(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE hc_dd_fktk (extend_processInstanceId VARCHAR(64) "
                "NOT NULL UNIQUE, order_no_new VARCHAR(64), qty_count INT)"
            )
        )
    with pytest.raises(SchemaMismatchError) as raised:
        ensure_schema(engine, SPEC)
    message = str(raised.value)
    for column in ("datetime_new", "sales_count", "status", "Document_Type"):
        assert column in message
    columns = [c["name"] for c in sa.inspect(engine).get_columns("hc_dd_fktk")]
    assert columns == ["extend_processInstanceId", "order_no_new", "qty_count"]


def test_a_table_without_the_unique_key_is_refused(mysql_engine):
    ddl = without_comments(SPEC.target.ddl).replace(
        "UNIQUE KEY `uk_hc_dd_fktk_process_instance` (`extend_processInstanceId`),", ""
    )
    assert "UNIQUE" not in ddl
    with mysql_engine.begin() as conn:
        conn.execute(sa.text(ddl))
    with pytest.raises(SchemaMismatchError, match="no UNIQUE key on extend_processInstanceId"):
        ensure_schema(mysql_engine, SPEC)


def test_schema_is_applied_idempotently(engine):
    assert ensure_schema(engine, SPEC) == ["hc_dd_fktk", "hc_dd_fktk_rejects", "hc_dd_fktk_sync"]
    assert ensure_schema(engine, SPEC) == []


def test_passwords_never_appear_in_urls_or_errors():
    url = "mysql+pymysql://finance:s3cr3t-pw@127.0.0.1:1/erp"
    assert "s3cr3t-pw" not in safe_url(url)
    with pytest.raises(DatabaseError) as raised:
        check_connection(make_engine(url))
    text = f"{raised.value} {raised.value!r}"
    assert "s3cr3t-pw" not in text
    assert "127.0.0.1:1" in text


def test_a_url_that_does_not_parse_names_the_setting():
    with pytest.raises(DatabaseError, match="DD_REFUND_DATABASE_URL"):
        make_engine("not a url at all")


def test_schema_command_creates_then_verifies(tmp_path, capsys):
    from dd_refund_pipeline.load.create_tables import main

    url = f"sqlite:///{tmp_path / 'cmd.db'}"
    assert main(["--form", "fktk_refund", "--database-url", url]) == 0
    assert "created hc_dd_fktk, hc_dd_fktk_rejects" in capsys.readouterr().out
    assert main(["--form", "fktk_refund", "--database-url", url]) == 0
    assert "nothing (tables exist and match)" in capsys.readouterr().out


def test_a_table_holding_four_places_receives_them_exactly(mysql_engine):
    """An adopted table with sales_count DECIMAL(18,4): 0.005 fits it and lands as 0.0050."""
    with mysql_engine.begin() as conn:
        ddl = without_comments(SPEC.target.ddl)
        conn.execute(sa.text(ddl.replace("DECIMAL(18,2)", "DECIMAL(18,4)")))
    spec = fit_to_table(mysql_engine, SPEC)
    assert spec.target.column("sales_count").table_column.sql_type == "DECIMAL(18,4)"
    raw = [instance(processInstanceId="half-cent", **amount("0.005"))]
    result = transform_instances(raw, spec)
    load_rows(mysql_engine, SPEC, result.clean, result.rejects, run_id="r")
    [row] = table_rows(mysql_engine)
    assert row["sales_count"] == Decimal("0.0050")


def test_amounts_with_more_places_than_the_table_are_refused_not_rounded(engine):
    """Rows cleaned for a 4-place table, loaded after it became a 2-place one."""
    raw = [instance(processInstanceId="half-cent", **amount("0.005"))]
    result = transform_instances(raw, fitted(SPEC, "sales_count", "DECIMAL(18,4)"))
    with pytest.raises(SchemaMismatchError, match="4 decimal places"):
        load_rows(engine, SPEC, result.clean, result.rejects, run_id="r")
    assert table_rows(engine) == []


@pytest.mark.parametrize(
    ("table", "where"),
    [("hc_dd_fktk", "the form's hc_dd_fktk.sql"), ("hc_dd_fktk_sync", "sql/sync_table.sql")],
)
def test_a_table_lacking_a_written_column_is_refused_naming_where_its_ddl_is(engine, table, where):
    """The message points at the DDL a person can copy the column from (the form's folder for
    its table, sql/ for the shared ones), never at a file that does not exist."""
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (unrelated INTEGER)"))
    with pytest.raises(SchemaMismatchError, match=f"lacks the columns .* as {where} declares"):
        ensure_schema(engine, SPEC)
