"""The three ways a batch reaches MariaDB store the same table, to the value, with the same counts.

- ``staged_file``: the URL allows ``LOAD DATA LOCAL INFILE`` (``?local_infile=1``), the server
  does: the batch is written to a file in MySQL's text format and loaded into a temporary stage;
- ``staged_rows``: the default: the stage is filled with multi-row ``INSERT``;
- ``rows``: the database refuses a temporary table (a user without CREATE TEMPORARY TABLES):
  every statement is bound to the batch's rows.

Generated rows carry the text nobody plans for (tabs, newlines, backslashes, ``\\N``, NUL,
emoji, quotes), amounts at the column's limits, times with and without fractions, missing
versions; each method's table and sync state must be the others', and the values the rows'.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dd_refund_pipeline.forms.spec import load_form_spec
from dd_refund_pipeline.forms.table_sql import LINEAGE_COLUMNS
from dd_refund_pipeline.load.batch_writers import StagedValueError, text_rows
from dd_refund_pipeline.load.loader import LoadResult, load_rows, make_engine
from dd_refund_pipeline_tests.conftest import _admin, _fresh, examples

SPEC = load_form_spec("fktk_refund")
COLUMNS = SPEC.target.column_names
METHODS = ("staged_file", "staged_rows", "rows")
# A user of this session's own: two suites on one server must not drop each other's.
NO_TEMP_USER = f"dd_refund_no_temp_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def method_engines(mysql_url: str) -> Iterator[dict[str, sa.Engine]]:
    """An engine per method, on the session's test database (its tables wiped by the test)."""
    database = sa.make_url(mysql_url).database
    password = uuid.uuid4().hex
    with _admin() as admin, admin.cursor() as cursor:
        for host in ("%", "localhost"):
            cursor.execute(f"DROP USER IF EXISTS '{NO_TEMP_USER}'@'{host}'")
            # The password is hex: written in, as CREATE USER takes no bound values.
            cursor.execute(f"CREATE USER '{NO_TEMP_USER}'@'{host}' IDENTIFIED BY '{password}'")
            # Everything a load needs, except a temporary table.
            cursor.execute(
                "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, INDEX, ALTER "
                f"ON `{database}`.* TO '{NO_TEMP_USER}'@'{host}'"
            )
    restricted = sa.make_url(mysql_url).set(username=NO_TEMP_USER, password=password)
    engines = {
        "staged_file": make_engine(f"{mysql_url}?local_infile=1"),
        "staged_rows": make_engine(mysql_url),
        "rows": make_engine(restricted.render_as_string(hide_password=False)),
    }
    yield engines
    for engine in engines.values():
        engine.dispose()
    with _admin() as admin, admin.cursor() as cursor:
        for host in ("%", "localhost"):
            cursor.execute(f"DROP USER IF EXISTS '{NO_TEMP_USER}'@'{host}'")


def cleaned(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows in the shape the transform gives the load (its columns and dtypes)."""
    frame = pd.DataFrame(rows, columns=[*COLUMNS, *LINEAGE_COLUMNS])
    modified = frame["source_modified_time"].astype("datetime64[us]").dt.tz_localize("UTC")
    typed = {"datetime_new": "datetime64[us]", "qty_count": "Int64", "source_version": "Int64"}
    return frame.astype({**typed, "sales_count": object}).assign(source_modified_time=modified)


# Text that ends a field or a line, starts an escape, or looks like NULL in MySQL's text format.
TRICKY = ["\t", "\n", "\r", "\\", "\\N", "\\t", "\0", "'", '"', "NULL", "🙂", "退款", " "]
texts = st.lists(
    st.one_of(
        st.sampled_from(TRICKY),
        st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=4),
    ),
    max_size=8,
).map("".join)


def short(limit: int) -> st.SearchStrategy[str]:
    return texts.map(lambda text: text[:limit])


moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31))
rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "order_no_new": short(64),
            "datetime_new": moments,
            "qty_count": st.integers(-(2**31), 2**31 - 1),
            "sales_count": st.decimals(
                min_value=Decimal("-9999999999999999.99"),
                max_value=Decimal("9999999999999999.99"),
                places=2,
            ),
            "status": short(32),
            "Document_Type": short(32),
            "partition_date": st.dates(date(2026, 1, 1), date(2026, 12, 31)).map(date.isoformat),
            # Whole seconds: the sync state's DATETIME compares them, as the API sends them.
            "source_modified_time": st.none() | moments.map(lambda t: t.replace(microsecond=0)),
            "source_version": st.none() | st.integers(0, 10_000),
        }
    ),
    min_size=1,
    max_size=12,
)


def keyed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Keys are not what is hostile here (the transform checks them); distinct under any collation.
    return [{**row, "extend_processInstanceId": f"form-{i:04d}"} for i, row in enumerate(rows)]


def stored(engine: sa.Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    names = ", ".join(f"`{c}`" for c in COLUMNS)
    with engine.connect() as conn:
        table = conn.execute(
            sa.text(f"SELECT {names} FROM hc_dd_fktk ORDER BY extend_processInstanceId")
        ).all()
        sync = conn.execute(
            sa.text(
                "SELECT process_instance_id, partition_date, source_version, "
                "source_modified_time, last_seen_run FROM hc_dd_fktk_sync "
                "ORDER BY process_instance_id"
            )
        ).all()
    return [tuple(r) for r in table], [tuple(r) for r in sync]


def counts(outcome: LoadResult) -> tuple[int, int, int, int]:
    return outcome.inserted, outcome.updated, outcome.unchanged, outcome.stale_skipped


def load_each_way(
    engines: dict[str, sa.Engine], first: pd.DataFrame, second: pd.DataFrame
) -> dict[str, Any]:
    """Per method: both loads' counts and what the tables hold after them."""
    seen = {}
    for method, engine in engines.items():
        _fresh(engines["staged_rows"])  # as root: the restricted user may not drop tables
        outcomes = [
            load_rows(engine, SPEC, frame, frame.iloc[0:0], run_id=f"run-{n}")
            for n, frame in enumerate((first, second))
        ]
        assert [o.method for o in outcomes] == [method, method]
        seen[method] = ([counts(o) for o in outcomes], stored(engine))
    return seen


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=rows_strategy, revised=st.data())
def test_every_method_stores_the_same_table_to_the_value(method_engines, rows, revised):
    first = keyed(rows)
    # The second load: some rows revised (newer or older copies than the first's), some the same.
    second, winners = [], []
    for row in first:
        change = revised.draw(st.sampled_from(["same", "newer", "older"]))
        version = row["source_version"]
        if change == "same" or version is None:
            second.append(row)
            winners.append(row)
            continue
        again = {**row, "source_version": version + (1 if change == "newer" else -1)}
        again["status"] = revised.draw(short(32))
        second.append(again)
        winners.append(again if change == "newer" else row)
    seen = load_each_way(method_engines, cleaned(first), cleaned(second))
    assert seen["staged_file"] == seen["staged_rows"] == seen["rows"]
    # And the table holds the newest copies' values themselves (times as the column rounds them).
    table, sync = seen["rows"][1]
    expected = [
        (
            row["extend_processInstanceId"],
            row["order_no_new"],
            row["qty_count"],
            row["sales_count"],
            row["status"],
            row["Document_Type"],
        )
        for row in winners
    ]
    assert [(r[0], r[1], r[3], r[4], r[5], r[6]) for r in table] == expected
    assert [s[2] for s in sync] == [row["source_version"] for row in winners]


def test_the_text_format_escapes_what_would_end_a_field_or_a_line():
    frame = cleaned(
        keyed(
            [
                {
                    "order_no_new": "a\tb\nc\\N\0",
                    "datetime_new": datetime(2026, 1, 2, 3, 4, 5, 600),
                    "qty_count": 1,
                    "sales_count": Decimal("1E+2"),
                    "status": None,
                    "Document_Type": "",
                    "partition_date": "2026-01-02",
                    "source_modified_time": None,
                    "source_version": None,
                }
            ]
        )
    )
    assert text_rows(frame) == (
        "form-0000\ta\\tb\\nc\\\\N\\0\t2026-01-02 03:04:05.000600\t1\t100\t\\N\t\t"
        "2026-01-02\t\\N\t\\N\n"
    )


def plain_rows(count: int) -> list[dict[str, Any]]:
    start = datetime(2026, 11, 1, 9, 30)
    return keyed(
        [
            {
                "order_no_new": f"FKTK{i:05d}(FKTK)",
                "datetime_new": start + timedelta(hours=i),
                "qty_count": 1,
                "sales_count": Decimal(f"{i}.{i % 100:02d}"),
                "status": "COMPLETED",
                "Document_Type": "付款退款",
                "partition_date": "2026-11-01",
                "source_modified_time": start,
                "source_version": 1,
            }
            for i in range(count)
        ]
    )


def test_a_server_that_refuses_local_files_is_loaded_through_the_stage_all_the_same(
    method_engines,
):
    engine = method_engines["staged_file"]
    _fresh(engine)
    with _admin() as admin, admin.cursor() as cursor:
        cursor.execute("SELECT @@GLOBAL.local_infile")
        [(before,)] = cursor.fetchall()
        cursor.execute("SET GLOBAL local_infile = 0")
        try:
            engine.dispose()  # new connections see the setting
            frame = cleaned(plain_rows(30))
            outcome = load_rows(engine, SPEC, frame, frame.iloc[0:0], run_id="r1")
        finally:
            cursor.execute("SET GLOBAL local_infile = %s", (before,))
    assert outcome.method == "staged_rows"
    assert outcome.file_refused and "local" in outcome.file_refused.lower()
    assert outcome.as_dict()["load_file_refused"] == outcome.file_refused
    assert (outcome.inserted, outcome.updated, outcome.unchanged) == (30, 0, 0)
    assert len(stored(engine)[0]) == 30


@pytest.mark.parametrize("method", ["staged_file", "staged_rows"])
def test_a_value_the_stage_cannot_hold_fails_the_load_and_writes_nothing(method_engines, method):
    engine = method_engines[method]
    _fresh(engine)
    good = cleaned(plain_rows(20))
    load_rows(engine, SPEC, good, good.iloc[0:0], run_id="r1")
    before = stored(engine)
    # Past the transform's checks (as a hand-made frame is): 40 characters for VARCHAR(32).
    rows = plain_rows(8000)
    rows[7000]["status"] = "S" * 40
    bad = cleaned(rows)
    with pytest.raises((StagedValueError, sa.exc.DataError)) as refused:
        load_rows(engine, SPEC, bad, bad.iloc[0:0], run_id="r2", batch_size=5000)
    if method == "staged_file":  # LOAD DATA LOCAL only warns: the load reads the warnings
        assert refused.type is StagedValueError and "status" in str(refused.value)
    assert stored(engine) == before


def test_a_load_leaves_no_stage_behind_on_its_connection(method_engines):
    engine = method_engines["staged_rows"]
    _fresh(engine)
    frame = cleaned(plain_rows(10))
    engine.dispose()  # one pooled connection: the load's, and then this test's
    load_rows(engine, SPEC, frame, frame.iloc[0:0], run_id="r1")
    with engine.connect() as conn:
        # The pool hands back the load's connection: its temporary table would be visible here.
        staged = conn.execute(sa.text("SHOW TABLES LIKE 'hc_dd_fktk_stage'")).all()
        with pytest.raises(sa.exc.ProgrammingError):
            conn.execute(sa.text("SELECT COUNT(*) FROM hc_dd_fktk_stage"))
    assert staged == []


def test_random_printable_text_round_trips_through_the_file(method_engines):
    engine = method_engines["staged_file"]
    _fresh(engine)
    rows = plain_rows(3)
    rows[0]["order_no_new"] = string.punctuation + string.whitespace
    rows[1]["status"] = "\\" * 32
    rows[2]["Document_Type"] = "\\N"
    frame = cleaned(rows)
    load_rows(engine, SPEC, frame, frame.iloc[0:0], run_id="r1")
    table = stored(engine)[0]
    assert [table[0][1], table[1][5], table[2][6]] == [
        string.punctuation + string.whitespace,
        "\\" * 32,
        "\\N",
    ]
