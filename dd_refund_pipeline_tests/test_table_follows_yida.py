"""hc_dd_fktk stays equal to Yida day after day: late approvals, old edits and deletions.

The real definitions run over simulated days against the emulator and MariaDB: the daily
schedule's runs, the ``dd_refund_late_changes`` sensor's ticks and the runs they request. In
between, the emulator approves a 35-day-old form, edits a 60-day-old one and deletes a form the
table already holds. The table must then equal the emulator's ground truth.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.storage.defs_state.base import set_defs_state_storage

from dd_refund_pipeline.checks.check_names import FORMS_IN_THEIR_DAYS, NO_GONE_UPSTREAM
from dd_refund_pipeline.components import late_changes_sensor as late_changes
from dd_refund_pipeline.components import table_asset
from dd_refund_pipeline.components.deep_reconcile_schedule import estimated_list_calls, old_days
from dd_refund_pipeline.components.late_changes_sensor import SweepCursor, contiguous_ranges
from dd_refund_pipeline.definitions import defs
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.server import EmulatorServer
from dd_refund_pipeline.emulator.state import EmulatorConfig
from dd_refund_pipeline.lib.partitions import RANGE_END_TAG, RANGE_START_TAG
from dd_refund_pipeline.load.loader import make_engine
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


def _load_definitions() -> dg.Definitions:
    """The real definitions, loaded with no defs-state storage (they keep no state).

    Loading reads the current defs-state storage; one of an earlier, collected instance was
    still current now and then ("undefined DagsterInstance weakref": seen once in several full
    runs, even under ``set_defs_state_storage(None)``). Then load again beside a live instance.
    """
    with set_defs_state_storage(None):
        try:
            return defs()
        except dg.DagsterInvariantViolationError as error:
            if "DagsterInstance weakref" not in str(error):
                raise
    with dg.instance_for_test():
        return defs()


@contextmanager
def pointed_at(
    server: EmulatorServer, mysql_url: str, tmp_path: Any, monkeypatch: Any, **env: str
) -> Iterator[dict[str, Any]]:
    """The real definitions pointed at ``server`` and MariaDB, with a Dagster instance."""
    settings = {
        **pipeline_env(server, mysql_url, tmp_path / "storage"),
        "DAGSTER_HOME": str(tmp_path / "home"),
        **env,
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    engine = _fresh(make_engine(mysql_url))
    definitions = _load_definitions()
    with dg.instance_for_test() as instance:
        yield {
            "server": server,
            "engine": engine,
            "instance": instance,
            "defs": definitions,
            "policy": settings.get("DD_REFUND_GONE_UPSTREAM", "flag"),
            "monkeypatch": monkeypatch,
        }
    engine.dispose()


@pytest.fixture
def world(mysql_url, tmp_path, monkeypatch, request) -> Iterator[dict[str, Any]]:
    """An emulator with 70 days of forms, MariaDB, and the real definitions pointed at them."""
    policy = getattr(request, "param", "flag")
    config = EmulatorConfig(instances=2500, seed=23, days=70)
    with (
        EmulatorServer(config, as_of=AS_OF) as server,
        pointed_at(
            server, mysql_url, tmp_path, monkeypatch, DD_REFUND_GONE_UPSTREAM=policy
        ) as pointed,
    ):
        yield pointed


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
    # A context manager, as Dagster's daemon opens it: the database resource is torn down after.
    with dg.build_sensor_context(
        instance=world["instance"],
        cursor=cursor,
        resources={
            "yida": world["defs"].resources["yida"],
            "refund_database": world["defs"].resources["refund_database"],
        },
    ) as context:
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
    assert SweepCursor.loads(tick.cursor).since == DAY_2 - timedelta(hours=1)
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
    assert SweepCursor.loads(tick.cursor) == SweepCursor(DAY_1, [])


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


@pytest.mark.parametrize("world", ["delete"], indirect=True)
def test_overlapping_runs_whose_loads_finish_in_the_other_order_keep_every_form(world):
    """Run A scans; a form is approved; run B scans and loads it; then A's load commits.

    A never saw the form, but B's scan began after A's: A's load must neither call it gone nor
    remove it (the rule in the sync state), whatever the order of the loads.
    """
    server, engine = world["server"], world["engine"]
    days = {RANGE_START_TAG: "2026-11-08", RANGE_END_TAG: "2026-11-12"}
    late = pick(world, 10, not_yet_agreed)
    a_loading, release = threading.Event(), threading.Event()
    real_load = table_asset.load_batches

    def held_load(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "run-A":
            a_loading.set()
            assert release.wait(120), "run A was never released"
        return real_load(*args, **kwargs)

    world["monkeypatch"].setattr(table_asset, "load_batches", held_load)
    outcome: dict[str, Any] = {}
    run_a = threading.Thread(target=lambda: outcome.update(a=run(world, days)), name="run-A")
    run_a.start()
    try:
        assert a_loading.wait(120), "run A never reached its load"
        server.state.store.approve(late)  # after A's scan, before B's
        run(world, days)
        assert late.pid in table(engine)
    finally:
        release.set()
        run_a.join(180)
    assert "a" in outcome, "run A failed"
    [a_load] = outcome["a"].asset_materializations_for_node("hc_dd_fktk")[:1]
    assert a_load.metadata["gone_upstream"].value == 0
    assert a_load.metadata["removed_gone_upstream"].value == 0
    assert table(engine) == expected_rows(server, "2026-11-08", "2026-11-12")


# -- the late-change sweep at its edges, on the real clock ---------------------------------------


@pytest.fixture
def live_world(mysql_url, tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    """Forms of the 40 days up to now: the emulator stamps edits with the real clock, so the
    sweep's ticks here run on it too. No safety margin: a change before a tick is behind it."""
    config = EmulatorConfig(instances=1500, seed=29, days=40)
    monkeypatch.setattr(late_changes, "SAFETY_MARGIN", timedelta(0))
    with (
        EmulatorServer(config, as_of=datetime.now(tz=CHINA_TZ)) as server,
        pointed_at(server, mysql_url, tmp_path, monkeypatch) as pointed,
    ):
        yield pointed


def china_day(instance: Any) -> str:
    return datetime.fromtimestamp(instance.create_ms / 1000, CHINA_TZ).strftime("%Y-%m-%d")


def of_day(world: dict[str, Any], day: str) -> Any:
    forms = matching(world["server"], day, day)
    return next(i for i in forms if not i.malformed)


def launched(world: dict[str, Any], request: dg.RunRequest, succeed: bool = True) -> Any:
    """The run the daemon would launch for a sensor's request (its run key and sensor tags)."""
    tags = {
        **request.tags,
        "dagster/run_key": request.run_key,
        "dagster/sensor_name": "dd_refund_late_changes",
    }
    if succeed:
        return run(world, tags)
    job = world["defs"].resolve_job_def("dd_refund_sync_job")
    world["monkeypatch"].setenv("DINGTALK_APP_SECRET", "not-the-secret")
    try:
        result = job.execute_in_process(tags=tags, instance=world["instance"], raise_on_error=False)
    finally:
        world["monkeypatch"].setenv("DINGTALK_APP_SECRET", world["server"].state.config.app_secret)
    assert not result.success
    return result


def edit_old_form(world: dict[str, Any], days_ago: int, amount: str) -> tuple[Any, str]:
    """A form created ``days_ago`` China days ago, its amount edited now; the cursor just before."""
    day = (datetime.now(tz=CHINA_TZ) - timedelta(days=days_ago)).strftime("%Y-%m-%d")
    form = of_day(world, day)
    cursor = datetime.now(tz=CHINA_TZ).isoformat()
    world["server"].state.store.edit(
        form, {AMOUNT_FIELD: float(amount), f"{AMOUNT_FIELD}_value": amount}
    )
    return form, cursor


def after_the_edit() -> datetime:
    """A tick's time a little after an edit made now: Yida's modification times are whole
    minutes, and a sweep re-reads its cursor's minute."""
    return datetime.now(tz=CHINA_TZ) + timedelta(minutes=2)


def test_the_sweep_syncs_a_change_to_the_look_backs_oldest_day_after_the_days_scan(live_world):
    """Day X: the schedule's run is the last to read X-25; an edit after it must still land."""
    world = live_world
    today = datetime.now(tz=CHINA_TZ)
    scheduled_run(world, today.replace(hour=2, minute=30, second=0, microsecond=0))
    oldest = (today - timedelta(days=25)).strftime("%Y-%m-%d")
    form = of_day(world, oldest)
    cursor = datetime.now(tz=CHINA_TZ).isoformat()
    world["server"].state.store.edit(
        form, {AMOUNT_FIELD: 4321.5, f"{AMOUNT_FIELD}_value": "4321.5"}
    )
    tick = sensor_tick(world, after_the_edit(), cursor=cursor)
    assert [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in tick.run_requests] == [
        (oldest, oldest)
    ]
    launched(world, tick.run_requests[0])
    assert table(world["engine"])[form.pid][3] == Decimal("4321.50")
    # Tomorrow nothing is owed: the change is behind the cursor and its run succeeded.
    tomorrow = sensor_tick(world, today + timedelta(days=1), cursor=tick.cursor)
    assert not tomorrow.run_requests


def test_a_failed_run_is_requested_again_until_one_succeeds(live_world):
    world = live_world
    form, cursor = edit_old_form(world, 33, "17.5")
    first = sensor_tick(world, after_the_edit(), cursor=cursor)
    [request] = first.run_requests
    # Not launched yet when the next tick comes: the same request, which Dagster launches once.
    again = sensor_tick(world, after_the_edit(), cursor=first.cursor)
    assert [r.run_key for r in again.run_requests] == [request.run_key]
    launched(world, request, succeed=False)
    retried = sensor_tick(world, after_the_edit(), cursor=again.cursor)
    [retry] = retried.run_requests
    assert retry.run_key != request.run_key and retry.tags == request.tags
    assert [run.attempt for run in SweepCursor.loads(retried.cursor).owed] == [2]
    launched(world, retry)
    assert table(world["engine"])[form.pid][3] == Decimal("17.50")
    settled = sensor_tick(world, after_the_edit(), cursor=retried.cursor)
    assert not settled.run_requests and "waiting" not in settled.skip_message


def test_a_run_in_flight_is_waited_for_not_requested_twice(live_world):
    world = live_world
    _form, cursor = edit_old_form(world, 31, "8.25")
    first = sensor_tick(world, after_the_edit(), cursor=cursor)
    [request] = first.run_requests
    job = world["defs"].resolve_job_def("dd_refund_sync_job")
    tags = {**request.tags, "dagster/run_key": request.run_key}
    in_flight = world["instance"].create_run_for_job(
        job, tags={**tags, "dagster/sensor_name": "dd_refund_late_changes"}
    )
    waiting = sensor_tick(world, after_the_edit(), cursor=first.cursor)
    assert not waiting.run_requests
    assert in_flight.run_id in waiting.skip_message and "waiting" in waiting.skip_message


def test_a_tick_that_fails_keeps_its_cursor_and_the_next_finds_the_change(live_world):
    world = live_world
    form, cursor = edit_old_form(world, 35, "9.5")
    world["monkeypatch"].setenv("DINGTALK_APP_SECRET", "not-the-secret")
    with pytest.raises(Exception, match=r"(?i)secret|token|auth"):
        sensor_tick(world, datetime.now(tz=CHINA_TZ), cursor=cursor)
    world["monkeypatch"].setenv("DINGTALK_APP_SECRET", world["server"].state.config.app_secret)
    # Dagster keeps a failed tick's cursor: the next tick starts from the same one.
    tick = sensor_tick(world, datetime.now(tz=CHINA_TZ), cursor=cursor)
    assert [r.tags[RANGE_START_TAG] for r in tick.run_requests] == [china_day(form)]


# -- forms Yida returns for a window they were not created in -------------------------------------


SHIFTED_ZONE = "Etc/GMT+8"  # UTC-8: sixteen hours behind China


@pytest.fixture
def utc_world(mysql_url, tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    """An emulator that reads the request's create window in another zone than China time (the
    zone of ``createTimeGMT`` is unconfirmed, yida-api.md): then Yida returns forms of the day
    after the window."""
    config = EmulatorConfig(instances=1500, seed=31, days=30, zone=SHIFTED_ZONE)
    with (
        EmulatorServer(config, as_of=AS_OF) as server,
        pointed_at(server, mysql_url, tmp_path, monkeypatch) as pointed,
    ):
        yield pointed


def test_forms_outside_their_window_are_quarantined_and_a_check_names_their_day(utc_world):
    world = utc_world
    result = run(world, {RANGE_START_TAG: "2026-11-10", RANGE_END_TAG: "2026-11-12"})
    # The window's end as the emulator reads it: 2026-11-12 23:59:59 sixteen hours later.
    end = datetime(2026, 11, 13, tzinfo=ZoneInfo(SHIFTED_ZONE)).timestamp() * 1000
    outside = [
        i for i in matching(world["server"], "2026-11-13", "2026-11-13") if i.create_ms < end
    ]
    assert outside, "the emulator's shifted window returned no form of the next day"
    with world["engine"].connect() as conn:
        quarantined = {
            row.record_key: row.reason
            for row in conn.execute(
                sa.text(
                    "SELECT record_key, reason FROM hc_dd_fktk_rejects "
                    "WHERE field = 'createTimeGMT'"
                )
            )
        }
    assert set(quarantined) == {i.pid for i in outside}
    assert all(
        "2026-11-13" in reason and "2026-11-10...2026-11-12" in reason
        for reason in quarantined.values()
    )
    [check] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == FORMS_IN_THEIR_DAYS
    ]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["outside"].value == len(outside)
    assert "2026-11-13" in check.metadata["days_yida_put_them_in"].value
    assert outside[0].pid in check.metadata["sample"].value


# -- the deep reconciliation of old days ---------------------------------------------------------


@pytest.fixture
def deep_world(mysql_url, tmp_path, monkeypatch, request) -> Iterator[dict[str, Any]]:
    """430 days of forms (about ``per_day`` matching a day), and the real definitions, with the
    deep reconciliation reaching ``back`` days."""
    policy, per_day, back = request.param
    # About 29% of the emulator's forms match the refund filters.
    config = EmulatorConfig(instances=int(430 * per_day / 0.29), seed=37, days=430)
    with (
        EmulatorServer(config, as_of=AS_OF) as server,
        pointed_at(
            server,
            mysql_url,
            tmp_path,
            monkeypatch,
            DD_REFUND_GONE_UPSTREAM=policy,
            DD_REFUND_DEEP_RECONCILE_DAYS=str(back),
            DD_REFUND_PARTITIONS_START="2025-01-01",
        ) as pointed,
    ):
        yield pointed


def deep_tick(world: dict[str, Any], tick: datetime) -> Any:
    """The weekly deep-reconciliation schedule's evaluation at ``tick``."""
    schedule = world["defs"].resolve_schedule_def("dd_refund_deep_reconcile_schedule")
    with dg.build_schedule_context(
        instance=world["instance"],
        scheduled_execution_time=tick,
        # As the daemon gives them: the database for the estimate, Yida's for the quota.
        resources={k: world["defs"].resources[k] for k in ("yida", "refund_database")},
    ) as context:
        return schedule.evaluate_tick(context)


def deep_run(world: dict[str, Any], tick: datetime) -> tuple[dg.RunRequest, Any]:
    """The weekly schedule's request at ``tick``, and its run."""
    [request] = deep_tick(world, tick).run_requests
    job = world["defs"].resolve_job_def("dd_refund_deep_reconcile_job")
    result = job.execute_in_process(tags=request.tags, instance=world["instance"])
    return request, result


def day_of(instance: Any) -> str:
    return datetime.fromtimestamp(instance.create_ms / 1000, CHINA_TZ).strftime("%Y-%m-%d")


@pytest.mark.parametrize("deep_world", [("flag", 10, 215), ("delete", 10, 215)], indirect=True)
def test_the_deep_reconciliation_follows_old_withdrawals_deletions_and_missing_rows(deep_world):
    world = deep_world
    server, engine, store = world["server"], world["engine"], world["server"].state.store
    first_request, _ = deep_run(world, DAY_1)
    first, last = first_request.tags[RANGE_START_TAG], first_request.tags[RANGE_END_TAG]
    assert (first, last) == ("2026-04-20", "2026-10-26")  # 215 days back, before the look-back
    assert table(engine) == expected_rows(server, first, last)
    # In Yida, long after filing: one form withdrawn (是 → 否) 90 days on, one deleted 200 days
    # on; in the table, the row of an old form lost (a person's DELETE).
    withdrawn = pick(world, 90, lambda i: matches_seed_query(i) and not i.malformed)
    deleted = pick(world, 200, lambda i: matches_seed_query(i) and not i.malformed)
    lost = pick(world, 150, lambda i: matches_seed_query(i) and not i.malformed)
    store.withdraw(withdrawn)
    store.delete(deleted)
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM hc_dd_fktk WHERE extend_processInstanceId = :key"),
            {"key": lost.pid},
        )
    request, result = deep_run(world, DAY_1 + timedelta(days=7))
    assert request.tags["dd_refund/trigger"] == "deep_reconcile"
    expected = expected_rows(server, request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG])
    rows, gone = table(engine), {withdrawn.pid, deleted.pid}
    assert lost.pid in rows and not gone & set(expected)
    assert {key: rows.get(key) for key in expected} == expected
    verdicts = {
        e.partition: e
        for e in result.get_asset_check_evaluations()
        if e.check_name == NO_GONE_UPSTREAM
    }
    gone_days = {day_of(withdrawn), day_of(deleted)}
    assert all(e.passed for day, e in verdicts.items() if day not in gone_days)
    if world["policy"] == "delete":
        assert not gone & set(rows)
        assert all(verdicts[day].metadata["removed"].value == 1 for day in gone_days)
    else:
        assert gone <= set(rows)
        assert not any(verdicts[day].passed for day in gone_days)


@pytest.mark.parametrize("deep_world", [("flag", 100, 425)], indirect=True)
def test_a_deep_reconciliation_of_400_days_lists_each_form_once(deep_world):
    world = deep_world
    calls = list_calls(world)
    request, result = deep_run(world, DAY_1)
    spent = list_calls(world) - calls
    first, last = request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]
    forms = len(matching(world["server"], first, last))
    assert forms >= 400 * 90  # about 100 a day
    [scan] = result.asset_materializations_for_node("yida_refund_instances")[:1]
    parts = scan.metadata["api_window_parts"].value
    assert spent <= 1 + -(-forms // 100) + parts
    print(f"deep reconciliation: {forms} forms over 400 days, {spent} list calls, {parts} parts")
    # Nothing tracked before the first run: the estimate is the bare minimum, and says so.
    assert int(request.tags["dd_refund/estimated_list_calls"]) == estimated_list_calls(0)
    assert table(world["engine"]) == expected_rows(world["server"], first, last)


def test_the_deep_reconciliation_skips_a_week_that_would_pass_the_quota_share(world):
    world["monkeypatch"].setenv("YIDA_MONTHLY_CALL_QUOTA", "40")
    world["monkeypatch"].setenv("YIDA_QUOTA_SHARE_PERCENT", "50")
    # The yida resource reads them when the code location loads, as a deployment's does.
    world["defs"] = _load_definitions()
    run(world, {RANGE_START_TAG: "2026-09-11", RANGE_END_TAG: "2026-10-26"})
    calls = list_calls(world)
    tick = deep_tick(world, DAY_1)
    assert not tick.run_requests and list_calls(world) == calls  # nothing spent to decide
    assert "deep reconciliation skipped this week" in tick.skip_message
    assert "50% of the quota (20 calls)" in tick.skip_message
    forms = len(matching(world["server"], "2026-09-11", "2026-10-26"))
    assert f"{forms} forms known, about {estimated_list_calls(forms)} list calls" in (
        tick.skip_message
    )


def test_old_days_are_those_the_look_back_no_longer_reads():
    keys = [f"2026-11-{day:02d}" for day in range(1, 31)]
    assert old_days(keys, 25, 400) == keys[:5]
    assert old_days(keys, 25, 27) == keys[3:5]
    assert old_days(keys, 25, 25) == []
    assert estimated_list_calls(0) == 2
    assert estimated_list_calls(40_000) == 1 + 400 + 8
