"""The Dagster product end to end: real definitions, the emulator over HTTP, real MariaDB.

Protects what the finance team relies on every morning: the right rows for any range, one scan
per run, idempotent reruns, no API calls when only the table is rebuilt, a duplicate stopping the
load, alerts that say what broke, and the schedule's window at China midnight.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from dd_refund_pipeline.checks.check_names import INSTANCE_IDS_UNIQUE, NO_REJECTS, TABLE_COMPLETE
from dd_refund_pipeline.definitions import defs
from dd_refund_pipeline.defs.sensors import dingtalk_on_failed_checks, dingtalk_on_run_failure
from dd_refund_pipeline.dingtalk import payload_json
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.server import EmulatorServer
from dd_refund_pipeline.emulator.state import EmulatorConfig
from dd_refund_pipeline.lib.partitions import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    form_days,
    lookback_days,
)
from dd_refund_pipeline.lib.resources import DingTalkRobot
from dd_refund_pipeline.lib.run_metadata import MAX_SHOWN_CHARS, preview
from dd_refund_pipeline.load.loader import make_engine
from dd_refund_pipeline_tests.conftest import AS_OF, _fresh, quiet_scan_calls
from dd_refund_pipeline_tests.ground_truth import (
    ROOT,
    dg_launch_command,
    expected_rows,
    form_defs,
    matching,
    materialize_command,
    pipeline_env,
    table,
)

ASSETS = ["yida_refund_instances", "refund_payments", "hc_dd_fktk"]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(instances=3000, seed=7, malformed_rate=0.02, other_form_instances=500)
    with EmulatorServer(config, as_of=AS_OF) as server:
        yield server


@pytest.fixture
def pipeline(emulator, mysql_url, tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    """Settings pointing the real definitions at the emulator, MariaDB and a temporary home."""
    env = {
        **pipeline_env(emulator, mysql_url, tmp_path / "storage", robot=True),
        "DAGSTER_WEBSERVER_URL": "http://dagster.example:3000",
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    engine = _fresh(make_engine(mysql_url))
    with dg.instance_for_test() as instance:
        yield {
            "instance": instance,
            "engine": engine,
            "defs": defs(),
            "storage": tmp_path / "storage",
            "emulator": emulator,
        }
    engine.dispose()


def materialize(
    pipeline: dict[str, Any], start: str, end: str, assets: list[str] | None = None
) -> dg.ExecuteInProcessResult:
    job = pipeline["defs"].resolve_job_def("dd_refund_sync_job")
    if assets is not None:
        job = job.get_subset(asset_selection={dg.AssetKey(a) for a in assets})
    return job.execute_in_process(
        tags={RANGE_START_TAG: start, RANGE_END_TAG: end},
        instance=pipeline["instance"],
        raise_on_error=False,
    )


def _failure_alert(
    pipeline: dict[str, Any], result: dg.ExecuteInProcessResult, webserver_url: str | None = None
) -> dict[str, Any]:
    """The DingTalk message the run-failure sensor sends for ``result``, as the robot got it."""
    robot = DingTalkRobot(
        base_url=pipeline["emulator"].base_url,
        access_token=pipeline["emulator"].state.config.robot_access_token,
        secret=pipeline["emulator"].state.config.robot_secret,
        webserver_url=webserver_url,
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="dingtalk_on_run_failure",
        dagster_instance=pipeline["instance"],
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources={"dingtalk_robot": robot},
    ).for_run_failure()
    sent = len(pipeline["emulator"].state.robot.messages)
    dingtalk_on_run_failure(context)
    [message] = pipeline["emulator"].state.robot.messages[sent:]
    return message


def table_with_times(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text("SELECT * FROM hc_dd_fktk ORDER BY extend_processInstanceId")
            )
        ]


def list_calls(pipeline: dict[str, Any]) -> int:
    return int(pipeline["emulator"].state.stats.calls["instances"])


def test_a_three_day_range_loads_exactly_the_expected_rows(pipeline):
    calls_before = list_calls(pipeline)
    result = materialize(pipeline, "2026-11-01", "2026-11-03")
    assert result.success
    expected = expected_rows(pipeline["emulator"], "2026-11-01", "2026-11-03")
    assert expected
    assert table(pipeline["engine"]) == expected
    # One scan of the whole window, never one per day: a page per 100 forms the API returns
    # (damaged records included, which are not rows).
    returned = matching(pipeline["emulator"], "2026-11-01", "2026-11-03")
    assert list_calls(pipeline) - calls_before == quiet_scan_calls(len(returned))
    materializations = result.asset_materializations_for_node("hc_dd_fktk")
    per_day = {m.partition: m.metadata["rows_of_day"].value for m in materializations}
    assert set(per_day) == {"2026-11-01", "2026-11-02", "2026-11-03"}
    assert sum(per_day.values()) == len(expected)
    assert len(set(per_day.values())) > 1  # each day its own count, not the window total
    # The asset overview's "Row count" is the table's, not the last day's.
    assert {m.metadata["dagster/row_count"].value for m in materializations} == {len(expected)}
    stored = Path(pipeline["storage"], "yida_refund_instances", "2026-11-02.jsonl")
    assert all(json.loads(line)["processInstanceId"] for line in stored.read_text().splitlines())


def test_a_run_opens_one_database_engine_and_closes_it_at_the_end(pipeline, monkeypatch):
    """One engine (one connection pool) for the run's lifetime, not one per call of the
    resource: the check, the quota count, the fitting of amounts and the load share it."""
    import dd_refund_pipeline.lib.resources as resources

    made: list[sa.Engine] = []

    def counted(url: str) -> sa.Engine:
        made.append(make_engine(url))
        return made[-1]

    monkeypatch.setattr(resources, "make_engine", counted)
    assert materialize(pipeline, "2026-11-04", "2026-11-05").success
    assert len(made) == 1
    assert made[0].pool.checkedout() == 0  # every connection given back


@pytest.mark.parametrize(
    ("start", "end", "empty_days"),
    [
        ("2026-01-24", "2026-01-24", 1),  # a day 300 days back: Yida returns nothing
        ("2026-01-20", "2026-01-26", 7),  # a range wholly empty
        ("2026-09-19", "2026-09-24", 3),  # partly empty: the form's first forms arrive on 09-22
    ],
)
def test_days_without_forms_read_as_materialized_with_zero_rows(pipeline, start, end, empty_days):
    """A holiday, a new form's first days, a year back: zero rows, every check run and passed."""
    result = materialize(pipeline, start, end)
    assert result.success
    days = form_days().get_partition_keys_in_range(dg.PartitionKeyRange(start, end))
    for asset in ASSETS:
        assert {m.partition for m in result.asset_materializations_for_node(asset)} == set(days)
    table_days = result.asset_materializations_for_node("hc_dd_fktk")
    per_day = {m.partition: m.metadata["rows_of_day"].value for m in table_days}
    assert [day for day in days if per_day[day] == 0] == days[:empty_days]
    assert sum(per_day.values()) == len(expected_rows(pipeline["emulator"], start, end))
    evaluations = result.get_asset_check_evaluations()
    failed = [
        (e.asset_key.to_user_string(), e.check_name, e.partition)
        for e in evaluations
        if not e.passed and e.check_name != NO_REJECTS
    ]
    assert not failed
    checks = {(e.asset_key.to_user_string(), e.check_name) for e in evaluations}
    planned = {
        (key.asset_key.to_user_string(), key.name)
        for key in pipeline["defs"].resolve_asset_graph().asset_check_keys
        if key.asset_key.to_user_string() in ASSETS
    }
    assert checks == planned
    assert table(pipeline["engine"]) == expected_rows(pipeline["emulator"], start, end)


def _window_complete(result: dg.ExecuteInProcessResult, day: str) -> dg.AssetCheckEvaluation:
    [found] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == TABLE_COMPLETE and e.partition == day
    ]
    return found


def test_a_stored_form_whose_new_version_is_rejected_is_named_and_cleared_by_fixing_it(
    pipeline, monkeypatch
):
    """``rejected_but_stored``: the table keeps the last valid copy of a form whose edit is now
    rejected. The check names the form as a person finds it in Yida, and correcting the form
    there (the runbook's action) clears it on the next run of its day."""
    day, emulator = "2026-10-15", pipeline["emulator"]
    monkeypatch.setenv(
        "DD_REFUND_YIDA_FORM_URL",
        "https://corp.aliwork.com/{app_type}/processDetail?formInstId={process_instance_id}",
    )
    materialize(pipeline, day, day)
    key = sorted(expected_rows(emulator, day, day))[0]
    form = emulator.state.store.find(key)
    date = "dateField_lgkieplu"
    kept = {date: form.payload["data"][date]}
    # The date cleared in an edit (the field is not required): the new version is rejected.
    emulator.state.store.edit(form, {date: None})
    try:
        broken = _window_complete(materialize(pipeline, day, day), day)
        assert not broken.passed and broken.metadata["rejected_but_stored"].value == 1
        sample = broken.metadata["rejected_but_stored_sample"].value
        serial = form.payload["data"]["serialNumberField_lgk9jn2s"]
        for shown in (serial, form.payload["title"], key, date):
            assert shown in sample, shown
        app = emulator.state.config.app_type
        assert f"({'https://corp.aliwork.com'}/{app}/processDetail?formInstId={key})" in sample
        assert key in table(pipeline["engine"])  # the last valid copy, until the form is fixed
    finally:
        emulator.state.store.edit(form, kept)
    fixed = _window_complete(materialize(pipeline, day, day), day)
    assert fixed.passed
    assert table(pipeline["engine"]) == expected_rows(emulator, day, day)


def test_a_run_whose_checks_all_ran_never_says_they_did_not(pipeline):
    """Reproduced before: every run logged "op 'hc_dd_fktk' did not yield or return expected
    outputs {…6 checks}" though each check was evaluated for each day."""
    result = materialize(pipeline, "2026-11-04", "2026-11-05")
    assert result.success
    logged = [entry.user_message for entry in pipeline["instance"].all_logs(result.run_id)]
    assert not [m for m in logged if "did not yield or return expected outputs" in m]
    evaluated = {e.check_name for e in result.get_asset_check_evaluations()}
    assert {TABLE_COMPLETE, NO_REJECTS} <= evaluated


def test_row_count_means_what_the_asset_holds_on_every_asset(pipeline):
    """Reproduced before: "Row count" was the whole table on hc_dd_fktk but the last day's rows
    on the two upstream assets. Now each asset's ``dagster/row_count`` is everything it holds
    (all stored days; the whole table), and ``rows_of_day`` the day's share, on all three."""
    materialize(pipeline, "2026-11-06", "2026-11-07")
    result = materialize(pipeline, "2026-11-08", "2026-11-09")
    engine = pipeline["engine"]
    with engine.connect() as conn:
        table_rows = conn.execute(sa.text("SELECT COUNT(*) FROM hc_dd_fktk")).scalar_one()
    storage = Path(pipeline["storage"])
    raw_held = sum(
        len(f.read_text().splitlines()) for f in (storage / "yida_refund_instances").glob("*.jsonl")
    )
    clean_held = sum(
        len(pd.read_parquet(f))
        for f in (storage / "refund_payments").glob("*.parquet")
        if not f.name.endswith(".rejects.parquet")
    )
    for asset, held in (
        ("yida_refund_instances", raw_held),
        ("refund_payments", clean_held),
        ("hc_dd_fktk", table_rows),
    ):
        days = result.asset_materializations_for_node(asset)
        assert {m.partition for m in days} == {"2026-11-08", "2026-11-09"}
        assert {m.metadata["dagster/row_count"].value for m in days} == {held}, asset
        per_day = [m.metadata["rows_of_day"].value for m in days]
        assert sum(per_day) < held and len(set(per_day)) == 2, asset


def test_a_rerun_changes_nothing(pipeline):
    materialize(pipeline, "2026-11-01", "2026-11-03")
    before = table_with_times(pipeline["engine"])
    again = materialize(pipeline, "2026-11-01", "2026-11-03")
    assert again.success
    [load, *_] = again.asset_materializations_for_node("hc_dd_fktk")
    assert load.metadata["inserted"].value == 0 and load.metadata["updated"].value == 0
    assert table_with_times(pipeline["engine"]) == before


def test_rebuilding_the_table_reads_stored_raw_data_without_api_calls(pipeline):
    materialize(pipeline, "2026-11-01", "2026-11-05")
    with pipeline["engine"].begin() as conn:
        conn.execute(sa.text("DELETE FROM hc_dd_fktk"))
    calls_before = list_calls(pipeline)
    result = materialize(pipeline, "2026-11-02", "2026-11-04", ["refund_payments", "hc_dd_fktk"])
    assert result.success
    assert list_calls(pipeline) == calls_before
    assert table(pipeline["engine"]) == expected_rows(
        pipeline["emulator"], "2026-11-02", "2026-11-04"
    )


def test_a_duplicate_upstream_fails_the_blocking_check_and_leaves_the_table(pipeline):
    materialize(pipeline, "2026-11-01", "2026-11-02")
    before = table_with_times(pipeline["engine"])
    folder = Path(pipeline["storage"], "yida_refund_instances")
    first_day = (folder / "2026-11-01.jsonl").read_text().splitlines()
    with (folder / "2026-11-02.jsonl").open("a") as second_day:
        second_day.write(first_day[0] + "\n")
    result = materialize(pipeline, "2026-11-01", "2026-11-02", ["refund_payments", "hc_dd_fktk"])
    assert not result.success
    [check] = [
        c for c in result.get_asset_check_evaluations() if c.check_name == INSTANCE_IDS_UNIQUE
    ]
    assert not check.passed and check.metadata["duplicated_ids"].value == 1
    assert not result.asset_materializations_for_node("hc_dd_fktk")
    assert table_with_times(pipeline["engine"]) == before

    message = _failure_alert(pipeline, result, webserver_url="http://dagster.example:3000")
    text = message["markdown"]["text"]
    assert "dd_refund_sync_job" in text and "2026-11-01...2026-11-02" in text
    assert "refund_payments" in text and "blocking" in text.lower()
    assert INSTANCE_IDS_UNIQUE in text
    assert f"http://dagster.example:3000/runs/{result.run_id}" in text


def test_failed_warn_checks_of_a_successful_run_send_one_message(pipeline):
    result = materialize(pipeline, "2026-10-20", "2026-11-10")
    assert result.success
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert {c.check_name for c in failed} == {NO_REJECTS}  # the emulator's 2% malformed forms
    failing_days = sorted(c.partition for c in failed)
    assert len(failing_days) > 1 and all(failing_days)  # one verdict per day
    robot = DingTalkRobot(
        base_url=pipeline["emulator"].base_url,
        access_token=pipeline["emulator"].state.config.robot_access_token,
        secret=pipeline["emulator"].state.config.robot_secret,
    )
    [record] = (
        pipeline["instance"]
        .get_records_for_run(result.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
        .records
    )
    success_event = record.event_log_entry.dagster_event
    context = dg.build_run_status_sensor_context(
        sensor_name="dingtalk_on_failed_checks",
        dagster_instance=pipeline["instance"],
        dagster_run=result.dagster_run,
        dagster_event=success_event,
        resources={"dingtalk_robot": robot},
    )
    sent = len(pipeline["emulator"].state.robot.messages)
    dingtalk_on_failed_checks(context)
    [message] = pipeline["emulator"].state.robot.messages[sent:]
    assert NO_REJECTS in message["markdown"]["text"]
    assert f"{len(failing_days)} day(s): {failing_days[0]}" in message["markdown"]["text"]
    assert "2026-10-20...2026-11-10" in message["markdown"]["text"]


def test_the_scheduled_run_covers_25_days_in_one_run(pipeline):
    tick = datetime(2026, 11, 21, 2, 30, tzinfo=CHINA_TZ)
    context = dg.build_schedule_context(scheduled_execution_time=tick)
    [request] = (
        form_defs().get_schedule_def("dd_refund_daily_schedule").evaluate_tick(context).run_requests
    )
    assert request.tags[RANGE_START_TAG] == "2026-10-27"
    assert request.tags[RANGE_END_TAG] == "2026-11-20"
    assert request.run_key == "lookback:2026-10-27...2026-11-20"
    calls_before = list_calls(pipeline)
    result = materialize(pipeline, request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG])
    assert result.success
    expected = expected_rows(pipeline["emulator"], "2026-10-27", "2026-11-20")
    assert table(pipeline["engine"]) == expected
    assert len(result.asset_materializations_for_node("hc_dd_fktk")) == 25
    returned = matching(pipeline["emulator"], "2026-10-27", "2026-11-20")
    assert list_calls(pipeline) - calls_before == quiet_scan_calls(len(returned))


@pytest.mark.parametrize(
    ("tick", "first", "last"),
    [
        # 23:30 UTC is 07:30 the next morning in China: that next day's previous day is complete.
        (datetime(2026, 11, 29, 23, 30, tzinfo=timezone.utc), "2026-11-05", "2026-11-29"),
        # 15:59 UTC is 23:59 in China: the China day is not over yet.
        (datetime(2026, 11, 29, 15, 59, tzinfo=timezone.utc), "2026-11-04", "2026-11-28"),
        (datetime(2026, 11, 29, 16, 0, tzinfo=timezone.utc), "2026-11-05", "2026-11-29"),
        # Early history: the window is clipped at the partitions' start.
        (datetime(2024, 1, 5, 2, 30, tzinfo=CHINA_TZ), "2024-01-01", "2024-01-04"),
    ],
)
def test_lookback_window_at_china_midnight(tick, first, last):
    keys = lookback_days(form_days(), tick, 25)
    assert (keys[0], keys[-1]) == (first, last)
    # Consecutive days: 25 of them, or all since the partitions' start.
    days = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).days + 1
    assert len(keys) == days == (4 if first == "2024-01-01" else 25)


def test_a_missing_setting_fails_the_run_at_start_naming_it(pipeline, monkeypatch):
    monkeypatch.delenv("DINGTALK_APP_SECRET")
    calls_before = list_calls(pipeline)
    with pytest.raises(dg.DagsterInvalidConfigError, match="DINGTALK_APP_SECRET"):
        materialize(pipeline, "2026-11-01", "2026-11-01")
    assert list_calls(pipeline) == calls_before
    assert not sa.inspect(pipeline["engine"]).has_table("hc_dd_fktk")  # nothing was written


@pytest.mark.parametrize("command", [materialize_command, dg_launch_command])
def test_a_materialization_from_the_command_line_runs_in_one_process(pipeline, command):
    """Users run Dagster, not the core: the CLI's run (``dagster asset materialize`` and its
    successor ``dg launch``) executes its steps in its own process (a process per step would
    import Dagster, pandas and pyarrow again for each)."""
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        command("2026-11-01...2026-11-03"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        # dg runs in the project's environment: the one it finds in the project's .venv.
        env={**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [record] = instance.get_run_records(limit=1)
        events = instance.all_logs(record.dagster_run.run_id)
    assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    pids = {e.dagster_event.pid for e in events if e.dagster_event and e.step_key} - {None}
    steps = {e.step_key for e in events if e.step_key}
    assert {"yida_refund_instances", "refund_payments", "hc_dd_fktk"} <= steps
    assert len(pids) == 1
    assert table(pipeline["engine"]) == expected_rows(
        pipeline["emulator"], "2026-11-01", "2026-11-03"
    )


def _markdown_rows(markdown: str) -> list[dict[str, str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    header, rows = cells[0], cells[2:]
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_money_in_the_ui_reads_exactly_as_stored(pipeline):
    """The preview a person reads shows each amount as the table holds it, with its 2 places."""
    result = materialize(pipeline, "2026-11-01", "2026-11-10")
    assert result.success
    materialization = result.asset_materializations_for_node("hc_dd_fktk")[0]
    shown = _markdown_rows(str(materialization.metadata["preview"].value))
    assert len(shown) == 10
    with pipeline["engine"].connect() as conn:
        query = sa.text("SELECT extend_processInstanceId, sales_count FROM hc_dd_fktk")
        stored = {key: amount for key, amount in conn.execute(query)}
    assert [row["sales_count"] for row in shown] == [
        str(stored[row["extend_processInstanceId"]]) for row in shown
    ]
    # Six significant digits or more: tabulate's float parsing would print 123457.
    frame = pd.DataFrame({"sales_count": [Decimal("123456.78"), Decimal("17832.60")]})
    assert _markdown_rows(str(preview(frame).value)) == [
        {"sales_count": "123456.78"},
        {"sales_count": "17832.60"},
    ]


def test_rejected_samples_name_what_can_be_looked_up_in_yida(pipeline):
    result = materialize(pipeline, "2026-10-20", "2026-11-10")
    failed = [
        c
        for c in result.get_asset_check_evaluations()
        if c.check_name == NO_REJECTS and not c.passed
    ]
    sample = [row for c in failed for row in _markdown_rows(str(c.metadata["sample"].value))]
    assert sample
    by_key = {
        payload_json.record_key(i.payload): i.payload
        for i in matching(pipeline["emulator"], "2026-10-20", "2026-11-10")
    }
    for row in sample:
        payload = by_key[row["record_key"]]
        assert row["title"] == payload["title"] != ""
        data = payload.get("data") or {}  # a damaged record may have no form data at all
        serial = str(data.get("serialNumberField_lgk9jn2s", ""))
        if len(serial) <= MAX_SHOWN_CHARS:
            assert row["serial_number"] == serial
        else:  # the demo's 500-character serial, cut so that the sample fits the page
            cut = row["serial_number"]
            assert cut.startswith(serial[: MAX_SHOWN_CHARS - 1]) and cut.endswith(
                f"… ({len(serial)} characters)"
            )
        assert row["originator"].startswith(payload["originator"]["name"]["nameInChinese"])
        assert row["created_at"][:10] in {row["partition_date"], ""}


def _retries(result: dg.ExecuteInProcessResult) -> int:
    return sum(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)


def _failure(result: dg.ExecuteInProcessResult) -> str:
    [event] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    return event.step_failure_data.error.message


def test_failures_no_retry_can_fix_fail_at_once_saying_what_to_run(pipeline):
    """Missing upstream files and a table we cannot write into: no retry, no 2-minute wait."""
    started = time.monotonic()
    result = materialize(pipeline, "2026-11-05", "2026-11-05", ["hc_dd_fktk"])
    assert not result.success and _retries(result) == 0
    message = _failure(result)
    assert "never materialized for 2026-11-05" in message and "dg launch" in message

    with pipeline["engine"].begin() as conn:
        conn.execute(sa.text("CREATE TABLE hc_dd_fktk (extend_processInstanceId VARCHAR(64))"))
    result = materialize(pipeline, "2026-11-05", "2026-11-05")
    assert not result.success and _retries(result) == 0
    assert "make adopt" in _failure(result)
    assert time.monotonic() - started < 60


def test_alerts_of_ui_runs_name_the_assets_and_days_not_dagsters_internal_job(pipeline):
    job = pipeline["defs"].resolve_implicit_global_asset_job_def()
    job = job.get_subset(asset_selection={dg.AssetKey("hc_dd_fktk")})
    result = job.execute_in_process(
        tags={RANGE_START_TAG: "2026-11-06", RANGE_END_TAG: "2026-11-07"},
        instance=pipeline["instance"],
        raise_on_error=False,
    )
    assert not result.success and result.dagster_run.job_name == "__ASSET_JOB"
    message = _failure_alert(pipeline, result)
    title, text = message["markdown"]["title"], message["markdown"]["text"]
    assert "__ASSET_JOB" not in title + text
    assert "hc_dd_fktk" in title and "2026-11-06...2026-11-07" in title


def _failing_days(result: dg.ExecuteInProcessResult, check: str) -> set[str]:
    return {
        str(c.partition)
        for c in result.get_asset_check_evaluations()
        if c.check_name == check and not c.passed
    }


def _ui_statuses(pipeline: dict[str, Any], check: str) -> dict[str, set[str]]:
    """Days per status, as the Checks tab's Partitions view reads them (the check's state)."""
    key = dg.AssetCheckKey(dg.AssetKey("hc_dd_fktk"), check)
    days = form_days()
    state = pipeline["instance"].event_log_storage.get_asset_check_state([(key, days)])[key]
    return {
        status.value: set(subset.subset_value.get_partition_keys())
        for status, subset in state.subsets.items()
    }


def test_a_days_failed_check_stays_visible_until_that_day_passes(
    pipeline, make_emulator, monkeypatch
):
    """What the Checks tab shows, read from the instance: each day's latest verdict, kept while
    other days are backfilled; the history holds evaluations, one per day, no skipped noise."""
    # A private copy of the module's emulator: this test repairs a day's damaged forms.
    server = make_emulator(instances=3000, seed=7, malformed_rate=0.02)
    monkeypatch.setenv("DINGTALK_BASE_URL", server.base_url)
    failing = _failing_days(materialize(pipeline, "2026-10-20", "2026-11-10"), NO_REJECTS)
    assert failing
    later = materialize(pipeline, "2026-11-11", "2026-11-15")  # other days
    assert later.success and len(_failing_days(later, NO_REJECTS)) < 5
    failing |= _failing_days(later, NO_REJECTS)
    statuses = _ui_statuses(pipeline, NO_REJECTS)
    assert statuses["FAILED"] == failing
    assert len(statuses["SUCCEEDED"]) == 22 + 5 - len(failing)
    assert not statuses["SKIPPED"] and not statuses["IN_PROGRESS"]
    storage = pipeline["instance"].event_log_storage
    key = dg.AssetCheckKey(dg.AssetKey("hc_dd_fktk"), NO_REJECTS)
    history = storage.get_asset_check_execution_history(key, limit=1000)
    assert len(history) == 22 + 5  # one evaluation per day of each run, each naming its day
    assert all(r.partition for r in history)
    assert not [r for r in history if r.status == AssetCheckExecutionRecordStatus.PLANNED]

    # A later evaluation of a failing day replaces its verdict; the others stay.
    day = sorted(failing)[0]
    for damaged in [i for i in matching(server, day, day) if i.malformed]:
        server.state.store.delete(damaged)
    assert materialize(pipeline, day, day).success
    statuses = _ui_statuses(pipeline, NO_REJECTS)
    assert day in statuses["SUCCEEDED"]
    assert statuses["FAILED"] == failing - {day}
