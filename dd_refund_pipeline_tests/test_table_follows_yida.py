"""hc_dd_fktk stays equal to Yida day after day: late approvals, old edits and deletions.

The real definitions run over simulated days against the emulator and MariaDB: the daily
schedule's runs, the ``dd_refund_late_changes`` sensor's ticks and the runs they request. In
between, the emulator approves a 35-day-old form, edits a 60-day-old one and deletes a form the
table already holds. The table must then equal the emulator's ground truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg
import pytest

from dd_refund_pipeline.components import late_changes_sensor as late_changes
from dd_refund_pipeline.components.late_changes_sensor import contiguous_ranges
from dd_refund_pipeline.definitions import defs
from dd_refund_pipeline.defs.check_names import NO_GONE_UPSTREAM
from dd_refund_pipeline.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from dd_refund_pipeline.dingtalk.emulator.server import EmulatorServer
from dd_refund_pipeline.dingtalk.emulator.state import EmulatorConfig
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.refunds.loader import make_engine
from dd_refund_pipeline_tests.conftest import AS_OF, _fresh
from dd_refund_pipeline_tests.ground_truth import (
    expected_rows,
    form_defs,
    matches_seed_query,
    matching,
    pipeline_env,
    table,
)

AMOUNT_FIELD = "numberField_lgkiepjv"  # the refund form's amount component
DAY_1 = datetime(2026, 11, 21, 2, 30, tzinfo=CHINA_TZ)  # the schedule's first tick after AS_OF
DAY_2 = DAY_1 + timedelta(days=1)
FIRST_DAY = "2026-09-11"  # the oldest forms: 70 days before AS_OF


@pytest.fixture
def world(mysql_url, tmp_path, monkeypatch, request) -> Iterator[dict[str, Any]]:
    """An emulator with 70 days of forms, MariaDB, and the real definitions pointed at them."""
    policy = getattr(request, "param", "flag")
    config = EmulatorConfig(instances=2500, seed=23, days=70)
    with EmulatorServer(config, as_of=AS_OF) as server:
        env = {
            **pipeline_env(server, mysql_url, tmp_path / "storage"),
            "DAGSTER_HOME": str(tmp_path / "home"),
            "DD_REFUND_GONE_UPSTREAM": policy,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        engine = _fresh(make_engine(mysql_url))
        with dg.instance_for_test() as instance:
            yield {
                "server": server,
                "engine": engine,
                "instance": instance,
                "defs": defs(),
                "policy": policy,
                "monkeypatch": monkeypatch,
            }
        engine.dispose()


def run(world: dict[str, Any], tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    job = world["defs"].resolve_job_def("dd_refund_sync_job")
    result = job.execute_in_process(tags=tags, instance=world["instance"], raise_on_error=False)
    assert result.success
    return result


def scheduled_run(world: dict[str, Any], tick: datetime) -> dg.ExecuteInProcessResult:
    schedule = world["defs"].resolve_schedule_def("dd_refund_daily_schedule")
    context = dg.build_schedule_context(instance=world["instance"], scheduled_execution_time=tick)
    [request] = schedule.evaluate_tick(context).run_requests
    return run(world, {**request.tags, "dagster/schedule_name": schedule.name})


def sensor_tick(world: dict[str, Any], at: datetime, cursor: str | None = None) -> Any:
    world["monkeypatch"].setattr(late_changes, "now", lambda: at)
    sensor = world["defs"].resolve_sensor_def("dd_refund_late_changes")
    context = dg.build_sensor_context(
        instance=world["instance"],
        cursor=cursor,
        resources={
            "yida": world["defs"].resources["yida"],
            "refund_database": world["defs"].resources["refund_database"],
        },
    )
    return sensor.evaluate_tick(context)


def list_calls(world: dict[str, Any]) -> int:
    return int(world["server"].state.stats.calls["instances"])


def pick(world: dict[str, Any], days_old: int, test: Any) -> Any:
    """A form created about ``days_old`` days before AS_OF that passes ``test``."""
    target = AS_OF - timedelta(days=days_old)
    candidates = [
        i
        for i in world["server"].state.store.instances
        if abs(i.create_ms / 1000 - target.timestamp()) < 86400 * 1.5 and test(i)
    ]
    assert candidates, f"no {days_old}-day-old form to use"
    return candidates[0]


def not_yet_agreed(instance: Any) -> bool:
    """Matches the seed's filters once approved (是, 借款核销, an amount), but is not yet."""
    index = instance.index
    return (
        not instance.malformed
        and index["selectField_lgkiepju"] == "是"
        and index["radioField_lgk9jn2v"] == "借款核销"
        and (index[AMOUNT_FIELD] or 0) > 0
        and (instance.status, instance.result) != ("COMPLETED", "agree")
    )


def gone_check(result: dg.ExecuteInProcessResult, form: Any) -> dg.AssetCheckEvaluation:
    """The run's verdict of ``no_forms_gone_upstream`` for the form's day; every other day of
    the run passed (the check is evaluated per day)."""
    day = datetime.fromtimestamp(form.create_ms / 1000, CHINA_TZ).strftime("%Y-%m-%d")
    evaluations = [
        e for e in result.get_asset_check_evaluations() if e.check_name == NO_GONE_UPSTREAM
    ]
    assert all(e.passed for e in evaluations if e.partition != day)
    [evaluation] = [e for e in evaluations if e.partition == day]
    return evaluation


@pytest.mark.parametrize("world", ["flag", "delete"], indirect=True)
def test_two_days_of_yida_changes_end_in_an_exact_table(world):
    server, engine = world["server"], world["engine"]
    store = server.state.store
    # Day 0: the team backfills the older days once.
    run(world, {RANGE_START_TAG: FIRST_DAY, RANGE_END_TAG: "2026-10-26"})
    # Day 1: the schedule's run of the trailing 25 days.
    scheduled_run(world, DAY_1)
    late = pick(world, 35, not_yet_agreed)
    old = pick(world, 60, lambda i: matches_seed_query(i) and not i.malformed)
    window_2 = matching(server, "2026-10-28", "2026-11-20")
    deleted = next(i for i in window_2 if not i.malformed)
    assert deleted.pid in table(engine) and late.pid not in table(engine)

    # Between the days, in Yida: an approval 35 days late, an edit of an old form, a deletion.
    store.approve(late)
    store.edit(old, {AMOUNT_FIELD: 4321.5, f"{AMOUNT_FIELD}_value": "4321.5"})
    store.delete(deleted)

    # Day 2: the sensor's tick (no cursor yet: from the start of day 1's run), its runs, then
    # the schedule's run.
    tick = sensor_tick(world, DAY_2 - timedelta(hours=1))
    assert tick.cursor == (DAY_2 - timedelta(hours=1)).isoformat()
    requested = [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in tick.run_requests]
    late_day = datetime.fromtimestamp(late.create_ms / 1000, CHINA_TZ).strftime("%Y-%m-%d")
    old_day = datetime.fromtimestamp(old.create_ms / 1000, CHINA_TZ).strftime("%Y-%m-%d")
    assert requested == sorted({(late_day, late_day), (old_day, old_day)})
    for request in tick.run_requests:
        assert request.tags["dd_refund/trigger"] == "late_changes"
        run(world, request.tags)
    last = scheduled_run(world, DAY_2)

    rows = table(engine)
    expected = expected_rows(server, FIRST_DAY, "2026-11-21")
    assert late.pid in rows and rows[old.pid][3] == Decimal("4321.50")
    check = gone_check(last, deleted)
    if world["policy"] == "delete":
        assert rows == expected
        assert check.passed and check.metadata["removed"].value == 1
        assert deleted.pid in check.metadata["removed_sample"].value
    else:
        assert {key: value for key, value in rows.items() if key != deleted.pid} == expected
        assert deleted.pid in rows
        assert not check.passed and check.metadata["gone_upstream_rows"].value == 1
        assert deleted.pid in check.metadata["sample"].value


def test_a_tick_with_nothing_new_spends_one_call_and_requests_nothing(world):
    before = list_calls(world)
    cursor = datetime.now(tz=CHINA_TZ).isoformat()
    tick = sensor_tick(world, DAY_1, cursor=cursor)
    assert list_calls(world) - before == 1
    assert not tick.run_requests
    assert "1 list call" in tick.skip_message
    assert tick.cursor == DAY_1.isoformat()


def test_a_repeated_tick_requests_runs_with_the_same_keys(world):
    late = pick(world, 35, not_yet_agreed)
    world["server"].state.store.approve(late)
    cursor = (datetime.now(tz=CHINA_TZ) - timedelta(minutes=30)).isoformat()
    first = sensor_tick(world, DAY_1, cursor=cursor)
    again = sensor_tick(world, DAY_1, cursor=cursor)
    assert first.run_requests
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in first.run_requests]


def test_days_become_one_run_per_contiguous_range():
    days = ["2026-10-03", "2026-10-01", "2026-10-02", "2026-10-05", "2026-09-30", "2026-10-05"]
    assert contiguous_ranges(days) == [("2026-09-30", "2026-10-03"), ("2026-10-05", "2026-10-05")]


def test_the_sensor_is_on_by_default():
    dd_refund_late_changes = form_defs().get_sensor_def("dd_refund_late_changes")
    assert dd_refund_late_changes.default_status == dg.DefaultSensorStatus.RUNNING
    assert dd_refund_late_changes.minimum_interval_seconds == 6 * 3600


def test_a_rebuild_from_older_files_keeps_newer_values_and_marks_nothing_gone(world, tmp_path):
    """Re-materializing from stored files is no fresh look at Yida: older copies lose, and a
    form deleted since is not marked gone on that evidence."""
    server, engine = world["server"], world["engine"]
    days = {RANGE_START_TAG: "2026-11-01", RANGE_END_TAG: "2026-11-05"}
    run(world, days)
    raw = tmp_path / "storage" / "yida_refund_instances"
    older = {path.name: path.read_bytes() for path in raw.iterdir()}
    forms = [i for i in matching(server, "2026-11-01", "2026-11-05") if not i.malformed]
    edited, deleted = forms[0], forms[1]
    server.state.store.edit(edited, {AMOUNT_FIELD: 777.7, f"{AMOUNT_FIELD}_value": "777.7"})
    run(world, days)
    assert table(engine)[edited.pid][3] == Decimal("777.70")
    for name, payload in older.items():
        (raw / name).write_bytes(payload)
    server.state.store.delete(deleted)
    job = (
        world["defs"]
        .resolve_job_def("dd_refund_sync_job")
        .get_subset(asset_selection={dg.AssetKey("refund_payments"), dg.AssetKey("hc_dd_fktk")})
    )
    calls = list_calls(world)
    rebuild = job.execute_in_process(tags=days, instance=world["instance"])
    assert list_calls(world) == calls  # no API call: the stored files only
    [load] = rebuild.asset_materializations_for_node("hc_dd_fktk")[:1]
    assert load.metadata["stale_skipped"].value == 1
    assert load.metadata["gone_upstream"].value == 0
    assert table(engine)[edited.pid][3] == Decimal("777.70")
    assert deleted.pid in table(engine)
