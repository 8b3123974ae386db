"""Load benchmark: our upsert against one INSERT per row and against the LOAD DATA bound.

For N cleaned rows on MariaDB, fresh load and re-upsert (every second row changed), side by side
in one run, each method on its own fresh database:

1. ``ours``: ``load_rows`` as a run calls it (the batches staged with multi-row ``INSERT``, then
   the sync state's guarded upsert and the rows' upsert from the stage, one transaction, with
   inserted/updated/unchanged counts); ``ours_file``: the same with ``?local_infile=1`` in the
   URL, the batches staged with ``LOAD DATA LOCAL INFILE``;
2. ``per_row``: one ``INSERT … ON DUPLICATE KEY UPDATE`` statement per row in one transaction,
   the way a platform that sends one request per record writes (timed on a sample, see --per-row);
3. ``bound``: CSV → ``LOAD DATA LOCAL INFILE`` into a temporary table → one
   ``INSERT … SELECT … ON DUPLICATE KEY UPDATE`` (the fastest method measured on this machine).

Also times the transform of N raw instances. Prints rows/s and ratios to the bound.

    python bench/load_bench.py [--rows 200000] [--repeat 3] [--per-row 20000]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pymysql
import sqlalchemy as sa

from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.generator import generate_instances
from dd_refund_pipeline.forms.spec import load_form_spec
from dd_refund_pipeline.forms.table_sql import FormTables
from dd_refund_pipeline.load.loader import ensure_schema, load_rows, make_engine
from dd_refund_pipeline.transform.instances import transform_instances

SPEC = load_form_spec("fktk_refund")
COLUMNS = SPEC.target.column_names
SERVER = "mysql+pymysql://root@127.0.0.1:3306"


def fresh_database() -> tuple[str, Callable[[], None]]:
    name = f"dd_refund_bench_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")

    def drop() -> None:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()

    return f"{SERVER}/{name}", drop


def changed_copy(clean: pd.DataFrame) -> pd.DataFrame:
    """Every second row revised: a new amount and status, the same keys."""
    revised = clean.copy()
    every_other = revised.index[::2]
    revised.loc[every_other, "sales_count"] = [
        v + Decimal("1.00") for v in revised.loc[every_other, "sales_count"]
    ]
    revised.loc[every_other, "status"] = "REVISED"
    return revised


def run_ours(url: str, frame: pd.DataFrame) -> None:
    engine = make_engine(url)
    outcome = load_rows(engine, SPEC, frame, frame.iloc[0:0], run_id="bench")
    engine.dispose()
    assert outcome.method == "staged_rows", outcome.method


def run_ours_file(url: str, frame: pd.DataFrame) -> None:
    engine = make_engine(f"{url}?local_infile=1")
    outcome = load_rows(engine, SPEC, frame, frame.iloc[0:0], run_id="bench")
    engine.dispose()
    assert outcome.method == "staged_file", (outcome.method, outcome.file_refused)


def run_per_row(url: str, frame: pd.DataFrame) -> None:
    engine = make_engine(url)
    ensure_schema(engine, SPEC)
    statement = sa.text(FormTables.of(SPEC).sql("upsert_rows.mysql.sql"))
    rows = frame[COLUMNS].astype(object).to_dict("records")
    with engine.begin() as conn:
        for row in rows:
            row["datetime_new"] = row["datetime_new"].to_pydatetime()
            row["qty_count"] = int(row["qty_count"])
            conn.execute(statement, row)
    engine.dispose()


def run_bound(url: str, frame: pd.DataFrame) -> None:
    engine = make_engine(url)
    ensure_schema(engine, SPEC)
    engine.dispose()
    parsed = sa.make_url(url)
    conn = pymysql.connect(
        host=parsed.host,
        user=parsed.username,
        database=parsed.database,
        local_infile=True,
        charset="utf8mb4",
        autocommit=False,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8") as out:
        data = frame[COLUMNS].copy()
        data["datetime_new"] = data["datetime_new"].dt.strftime("%Y-%m-%d %H:%M:%S")
        data.to_csv(
            out,
            index=False,
            header=False,
            quoting=csv.QUOTE_NONNUMERIC,
            doublequote=False,
            escapechar="\\",
            lineterminator="\n",
        )
        path = out.name
    names = ", ".join(f"`{c}`" for c in COLUMNS)
    updates = ", ".join(f"`{c}` = s.`{c}`" for c in COLUMNS[1:])
    try:
        with conn.cursor() as cursor:
            cursor.execute("CREATE TEMPORARY TABLE stage LIKE hc_dd_fktk")
            cursor.execute(
                f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE stage CHARACTER SET utf8mb4 "
                "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '\\\\' "
                f"LINES TERMINATED BY '\\n' ({names})"
            )
            cursor.execute(
                f"INSERT INTO hc_dd_fktk ({names}) SELECT {names} FROM stage s "
                f"ON DUPLICATE KEY UPDATE {updates}"
            )
        conn.commit()
    finally:
        conn.close()
        Path(path).unlink()


def verify(url: str, frame: pd.DataFrame) -> None:
    engine = make_engine(url)
    with engine.connect() as conn:
        count, total, revised = conn.execute(
            sa.text("SELECT COUNT(*), SUM(sales_count), SUM(status = 'REVISED') FROM hc_dd_fktk")
        ).one()
    engine.dispose()
    assert count == len(frame), (count, len(frame))
    assert total == sum(frame["sales_count"]), (total, sum(frame["sales_count"]))
    assert int(revised or 0) == int((frame["status"] == "REVISED").sum())


def measure(
    method: Callable[[str, pd.DataFrame], None], clean: pd.DataFrame, revised: pd.DataFrame
) -> tuple[float, float]:
    """Seconds for the fresh load and the re-upsert, on a database of its own."""
    url, drop = fresh_database()
    try:
        started = time.perf_counter()
        method(url, clean)
        fresh = time.perf_counter() - started
        verify(url, clean)
        started = time.perf_counter()
        method(url, revised)
        again = time.perf_counter() - started
        verify(url, revised)
    finally:
        drop()
    return fresh, again


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--per-row",
        type=int,
        default=20_000,
        help="rows for the per-row method (its rate does not depend on N)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="5,000 rows once: a smoke run (CI), its figures not to be quoted",
    )
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat, args.per_row = 5_000, 1, 1_000

    _, made = generate_instances(
        SPEC, args.rows, seed=42, as_of=datetime(2026, 11, 20, 15, tzinfo=CHINA_TZ)
    )
    raw = [m.payload for m in made]
    started = time.perf_counter()
    result = transform_instances(raw, SPEC)
    transform_s = time.perf_counter() - started
    clean = result.clean
    revised = changed_copy(clean)
    n = len(clean)
    print(
        f"transform: {len(raw):,} instances in {transform_s:.2f} s "
        f"({len(raw) / transform_s:,.0f}/s); {n:,} rows, {result.rejected_records:,} rejected"
    )

    sample = min(args.per_row, n)
    methods = {
        "ours": (run_ours, clean, revised),
        "ours_file": (run_ours_file, clean, revised),
        "per_row": (run_per_row, clean.iloc[:sample], revised.iloc[:sample]),
        "bound": (run_bound, clean, revised),
    }
    rates: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in methods}
    for repetition in range(args.repeat):
        for name, (method, fresh_frame, again_frame) in methods.items():
            fresh_s, again_s = measure(method, fresh_frame, again_frame)
            rates[name][0].append(len(fresh_frame) / fresh_s)
            rates[name][1].append(len(again_frame) / again_s)
        print(f"  repetition {repetition + 1}/{args.repeat} done")

    bound_fresh = statistics.median(rates["bound"][0])
    bound_again = statistics.median(rates["bound"][1])
    print(
        f"\nload of {n:,} rows into MariaDB (median of {args.repeat}; per_row on {sample:,} rows)"
    )
    print(f"{'method':<10}{'fresh rows/s':>14}{'× bound':>9}{'re-upsert rows/s':>19}{'× bound':>9}")
    for name, (fresh, again) in rates.items():
        f, a = statistics.median(fresh), statistics.median(again)
        print(f"{name:<10}{f:>14,.0f}{f / bound_fresh:>9.2f}{a:>19,.0f}{a / bound_again:>9.2f}")
    spread = max(max(v) / min(v) for pair in rates.values() for v in pair)
    if spread > 1.3:
        print(f"(noisy machine: repetitions differed by up to {spread:.1f}×)")
    print()
    for name in ("ours", "ours_file"):
        ours = statistics.median(rates[name][0]) / bound_fresh
        verdict = "met" if ours >= 0.5 else "NOT met"
        print(f"target {name} ≥ 0.5 × bound (fresh): {verdict} ({ours:.2f})")


if __name__ == "__main__":
    main()
