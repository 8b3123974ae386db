"""Adopting a finance team's existing ``hc_dd_fktk``, as the 轻易云 scheme left it.

The legacy table is built from the seed's own INSERT (no UNIQUE key, copies of some forms, a
DECIMAL(18,4) amount, no audit columns; with and without an AUTO_INCREMENT id). Protected: the
plan changes nothing and says what it would do; ``--apply`` keeps the newest copy of each id,
moves every other copy into the backup with its reason, survives an interruption, and leaves a
table the real Dagster run then keeps exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from dd_refund_pipeline.definitions import defs
from dd_refund_pipeline.emulator.server import EmulatorServer
from dd_refund_pipeline.emulator.state import EmulatorConfig
from dd_refund_pipeline.forms.spec import load_form_spec
from dd_refund_pipeline.lib.partitions import RANGE_END_TAG, RANGE_START_TAG
from dd_refund_pipeline.load import adopt
from dd_refund_pipeline.load.existing_table import fitted_column
from dd_refund_pipeline.load.loader import SchemaMismatchError, ensure_schema
from dd_refund_pipeline_tests.conftest import AS_OF
from dd_refund_pipeline_tests.ground_truth import expected_rows, pipeline_env, table

SPEC = load_form_spec("fktk_refund")
DAYS = ("2026-11-01", "2026-11-04")
# The seed's INSERT, as the 轻易云 scheme ran it for every form it read.
SEED_INSERT = sa.text(
    "INSERT INTO `hc_dd_fktk` (`extend_processInstanceId`, `order_no_new`, `datetime_new`, "
    "`qty_count`, `sales_count`, `status`, `Document_Type`) VALUES (:extend_processInstanceId, "
    ":order_no_new, :datetime_new, :qty_count, :sales_count, :status, :Document_Type)"
)
LEGACY_COLUMNS = """
  `extend_processInstanceId` VARCHAR(255),
  `order_no_new` VARCHAR(255),
  `datetime_new` {date_type},
  `qty_count` INT,
  `sales_count` DECIMAL(18,4),
  `status` VARCHAR(64),
  `Document_Type` VARCHAR(64)
"""
LEGACY = {
    "auto_increment_id": "CREATE TABLE hc_dd_fktk (`id` INT AUTO_INCREMENT PRIMARY KEY,"
    + LEGACY_COLUMNS.format(date_type="DATETIME")
    + ") ENGINE=InnoDB",
    "no_key_date_column": "CREATE TABLE hc_dd_fktk ("
    + LEGACY_COLUMNS.format(date_type="DATE")
    + ") ENGINE=InnoDB",
}
NAMES = ["order_no_new", "datetime_new", "qty_count", "sales_count", "status", "Document_Type"]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(instances=1500, seed=11), as_of=AS_OF) as server:
        yield server


def _row(key: str, values: tuple[Any, ...]) -> dict[str, Any]:
    return {"extend_processInstanceId": key, **dict(zip(NAMES, values, strict=True))}


@pytest.fixture(params=sorted(LEGACY))
def legacy(request, mysql_engine, emulator) -> dict[str, Any]:
    """The legacy table: each form of DAYS once, some twice (an older copy first, as a re-run
    of the scheme after an edit left it), some three times identically, plus history rows."""
    current = expected_rows(emulator, *DAYS)
    keys = sorted(current)
    edited, repeated = keys[:7], keys[7:11]
    history = {
        f"legacy-{n}": (
            f"FKTK20250101{n:03d}(FKTK)",
            current[keys[0]][1],
            1,
            Decimal("10.5000"),
            "COMPLETED",
            "付款退款",
        )
        for n in range(3)
    }
    rows = [_row(k, v) for k, v in history.items()]
    for key in keys:
        if key in edited:  # the copy written before the form was edited: another amount
            older = list(current[key])
            older[3] = older[3] + Decimal("1.2345")
            rows.append(_row(key, tuple(older)))
        copies = 3 if key in repeated else 1
        rows += [_row(key, current[key])] * copies
    with mysql_engine.begin() as conn:
        for name in ("hc_dd_fktk_adopt_backup", "yida_api_calls"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        conn.execute(sa.text(LEGACY[request.param]))
        conn.execute(SEED_INSERT, rows)
    return {
        "variant": request.param,
        "engine": mysql_engine,
        "current": current,
        "history": history,
        "edited": edited,
        "repeated": repeated,
    }


def _stored(engine: sa.Engine) -> dict[str, tuple[Any, ...]]:
    """``table(engine)`` with a DATE column's days as midnight datetimes, as expected_rows has."""
    return {
        key: (values[0], _midnight(values[1]), *values[2:]) for key, values in table(engine).items()
    }


def _midnight(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value


def _snapshot(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return sorted(
            tuple(map(str, row)) for row in conn.execute(sa.text("SELECT * FROM hc_dd_fktk"))
        )


def _backup(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(sa.text("SELECT * FROM hc_dd_fktk_adopt_backup"))
        return [dict(row) for row in result.mappings()]


def test_the_plan_names_what_it_found_and_changes_nothing(legacy, capsys):
    engine = legacy["engine"]
    before = _snapshot(engine)
    code = adopt.main(
        [
            "--form",
            "fktk_refund",
            "--database-url",
            engine.url.render_as_string(hide_password=False),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1  # not ready
    assert _snapshot(engine) == before
    assert "11 processInstanceIds stored more than once (26 rows; 15 copies" in out
    assert "no UNIQUE key on extend_processInstanceId: --apply adds it" in out
    assert "sales_count" in out and "written exactly with up to 4 places" in out
    if legacy["variant"] == "no_key_date_column":
        assert "a date-only mapping" in out and "the last inserted" in out
    else:
        assert "the highest id (AUTO_INCREMENT)" in out
    # The loader refuses the table as it is, and says what to run.
    with pytest.raises(SchemaMismatchError, match="make adopt"):
        ensure_schema(engine, SPEC)


def test_apply_survives_an_interruption_then_a_real_run_keeps_the_table_exact(
    legacy, monkeypatch, tmp_path, emulator
):
    engine = legacy["engine"]
    real_move = adopt._Mover.move
    moves: list[int] = []

    def interrupted(self, conn, keys, at):
        moved = real_move(self, conn, keys, at)
        moves.append(moved)
        if len(moves) == 2:  # the second batch's transaction dies before its commit
            raise ConnectionError("server went away")
        return moved

    monkeypatch.setattr(adopt._Mover, "move", interrupted)
    with pytest.raises(ConnectionError):
        adopt.apply(engine, SPEC, batch_ids=3)
    halfway = adopt.make_plan(engine, SPEC)
    assert not halfway.ready and halfway.duplicates.ids == 11 - 3
    assert len(_backup(engine)) == moves[0]  # the first batch landed whole, the second not at all
    monkeypatch.setattr(adopt._Mover, "move", real_move)

    plan = adopt.apply(engine, SPEC, batch_ids=3)
    assert plan.ready and plan.has_unique_key and not plan.duplicates.ids
    assert adopt.apply(engine, SPEC).ready  # a rerun of a finished adoption changes nothing
    assert (
        adopt.main(
            [
                "--form",
                "fktk_refund",
                "--database-url",
                engine.url.render_as_string(hide_password=False),
            ]
        )
        == 0
    )

    current, backup = legacy["current"], _backup(engine)
    # Every removed copy is in the backup once, with its reason; the newest copy stayed.
    removed = sorted(row["extend_processInstanceId"] for row in backup)
    assert removed == sorted(legacy["edited"] + [k for k in legacy["repeated"] for _ in (1, 2)])
    for row in backup:
        assert row["adopt_reason"].startswith(f"duplicate of {row['extend_processInstanceId']}")
        if row["extend_processInstanceId"] in legacy["edited"]:
            expected_old = current[row["extend_processInstanceId"]][3] + Decimal("1.2345")
            assert row["sales_count"] == expected_old
    assert {k: v for k, v in _stored(engine).items() if k in current} == current

    # The real Dagster run now writes into the adopted table: exact for its days, history kept.
    url = engine.url.render_as_string(hide_password=False)
    for key, value in pipeline_env(emulator, url, tmp_path / "storage").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    with dg.instance_for_test() as instance:
        result = (
            defs()
            .resolve_job_def("dd_refund_sync_job")
            .execute_in_process(
                tags={RANGE_START_TAG: DAYS[0], RANGE_END_TAG: DAYS[1]}, instance=instance
            )
        )
    assert result.success
    stored = _stored(engine)
    assert {k: v for k, v in stored.items() if k in current} == current
    assert set(stored) == set(current) | set(legacy["history"])
    assert all(
        c.passed
        for c in result.get_asset_check_evaluations()
        if c.check_name != "no_forms_gone_upstream"
    )


def _columns(engine: sa.Engine) -> list[dict[str, Any]]:
    return sa.inspect(engine).get_columns("hc_dd_fktk")


def test_existing_columns_are_fitted_so_nothing_is_cut_or_rounded(mysql_engine):
    """A shorter VARCHAR quarantines what it cannot hold; a DATE gets the day; DECIMAL(18,4)
    takes four places: each as the column holds it, never cut or rounded by MySQL."""
    with mysql_engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE hc_dd_fktk (`extend_processInstanceId` VARCHAR(64) NOT NULL UNIQUE, "
                "`order_no_new` VARCHAR(20), `datetime_new` DATE, `qty_count` BIGINT, "
                "`sales_count` DECIMAL(18,4), `status` VARCHAR(32), `Document_Type` VARCHAR(32))"
            )
        )
    columns = {c["name"]: c for c in _columns(mysql_engine)}
    fitted = {
        c.name: fitted_column(c, columns[c.name]).table_column.sql_type for c in SPEC.target.columns
    }
    assert fitted["order_no_new"] == "VARCHAR(20)"
    assert fitted["datetime_new"] == "DATE"
    assert fitted["sales_count"] == "DECIMAL(18,4)"
    assert fitted["qty_count"] == "INT"
    ensure_schema(mysql_engine, SPEC)  # writable as it is: no error


@pytest.mark.parametrize(
    ("column", "sql_type", "reason"),
    [
        ("sales_count", "DOUBLE", "binary floating point cannot hold amounts"),
        ("sales_count", "DECIMAL(18,1)", "holds 1 decimal places; amounts have up to 2"),
        (
            "qty_count",
            "VARCHAR(8) NOT NULL, `note` VARCHAR(8) NOT NULL",
            "our inserts do not set it",
        ),
    ],
)
def test_what_cannot_be_written_into_is_named_and_apply_refuses(
    mysql_engine, capsys, column, sql_type, reason
):
    types = {name: "VARCHAR(64)" for name in SPEC.target.column_names}
    types.update({"datetime_new": "DATETIME", "qty_count": "INT", "sales_count": "DECIMAL(18,2)"})
    types[column] = sql_type
    ddl = ", ".join(f"`{name}` {sql}" for name, sql in types.items())
    with mysql_engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE hc_dd_fktk ({ddl})"))
    url = mysql_engine.url.render_as_string(hide_password=False)
    assert adopt.main(["--form", "fktk_refund", "--database-url", url]) == 1
    assert reason in capsys.readouterr().out
    assert adopt.main(["--form", "fktk_refund", "--database-url", url, "--apply"]) == 3
    assert reason in capsys.readouterr().err
    assert not sa.inspect(mysql_engine).has_table("hc_dd_fktk_adopt_backup")
    with pytest.raises(SchemaMismatchError, match=reason):
        ensure_schema(mysql_engine, SPEC)
