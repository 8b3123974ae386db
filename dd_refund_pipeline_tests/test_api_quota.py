"""The monthly API quota: our calls counted per China month across runs and sensors, projected,
checked against our share of the organisation's quota, and an exhausted quota explained.

The standard edition allows 5,000 calls a month for the whole organisation; a pipeline that
burns it silently stops every other integration of the company.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from dd_refund_pipeline.checks.check_names import API_QUOTA_HEADROOM
from dd_refund_pipeline.components import late_changes_sensor as late_changes
from dd_refund_pipeline.definitions import defs
from dd_refund_pipeline.defs.resources import resources
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.lib.partitions import RANGE_END_TAG, RANGE_START_TAG
from dd_refund_pipeline.load.api_quota import MonthCount, QuotaSettings, record_calls
from dd_refund_pipeline.load.loader import make_engine
from dd_refund_pipeline_tests.conftest import AS_OF
from dd_refund_pipeline_tests.ground_truth import pipeline_env


def test_a_month_is_a_china_month_and_callers_add_up(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS yida_api_calls"))
    # 2026-11-30 17:30 UTC is already 1 December in China.
    december = datetime(2026, 11, 30, 17, 30, tzinfo=timezone.utc)
    record_calls(engine, "yida_refund_instances", 3, december - timedelta(hours=2))
    record_calls(engine, "yida_refund_instances", 4, december)
    month = record_calls(engine, "dd_refund_late_changes", 1, december + timedelta(hours=6))
    assert month.month == "2026-12"
    assert month.by_caller == {"dd_refund_late_changes": 1, "yida_refund_instances": 4}
    november = record_calls(engine, "yida_refund_instances", 0, december - timedelta(hours=2))
    assert november.month == "2026-11" and november.calls == 3


def test_the_projection_follows_the_pace_of_the_month():
    at = datetime(2026, 11, 10, 0, 0, tzinfo=CHINA_TZ)  # 9 days of 30 gone
    month = MonthCount("2026-11", {"a": 900}, at)
    assert month.projected == 3000
    early = MonthCount("2026-11", {"a": 50}, datetime(2026, 11, 1, 3, tzinfo=CHINA_TZ))
    assert early.projected == 50 * 30  # at least a day of pace: day one is not a spike to 400×
    settings = QuotaSettings(5000, 70)
    assert not month.over(settings) and month.over(QuotaSettings(4000, 70))
    assert not month.over(QuotaSettings(0, 70))  # 0: not watched
    assert "this month (2026-11): 900 calls; projected: 3000 (60%" in month.summary(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("YIDA_MONTHLY_CALL_QUOTA", "lots"),
        ("YIDA_MONTHLY_CALL_QUOTA", "-5"),
        ("YIDA_QUOTA_SHARE_PERCENT", "170"),
    ],
)
def test_a_bad_quota_setting_fails_the_step_naming_it(monkeypatch, name, value):
    """Read by the ``yida`` resource through ``EnvVar``; a step fails before it spends a call."""
    monkeypatch.setenv(name, value)
    with pytest.raises(dg.Failure, match=name) as raised:
        _yida(monkeypatch).quota()
    assert raised.value.allow_retries is False


def test_quota_settings_left_unset_are_the_standard_edition(monkeypatch):
    for name in ("YIDA_MONTHLY_CALL_QUOTA", "YIDA_QUOTA_SHARE_PERCENT"):
        monkeypatch.delenv(name, raising=False)
    assert _yida(monkeypatch).quota() == QuotaSettings(5000, 70.0)
    monkeypatch.setenv("YIDA_QUOTA_SHARE_PERCENT", "55%")
    assert _yida(monkeypatch).quota() == QuotaSettings(5000, 55.0)


def _yida(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The code location's ``yida`` resource as a run resolves it."""
    for name in ("DINGTALK_APP_KEY", "DINGTALK_APP_SECRET", "YIDA_SYSTEM_TOKEN"):
        monkeypatch.setenv(name, "x")
    return resources().resources["yida"].process_config_and_initialize()


@pytest.fixture
def world(make_emulator, mysql_url, tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    server = make_emulator(instances=600)
    for key, value in pipeline_env(server, mysql_url, tmp_path / "storage").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    engine = make_engine(mysql_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS yida_api_calls"))
    with dg.instance_for_test() as instance:
        yield {"server": server, "engine": engine, "instance": instance, "mp": monkeypatch}
    engine.dispose()


def _run(world: dict[str, Any], start: str, end: str) -> dg.ExecuteInProcessResult:
    job = defs().resolve_job_def("dd_refund_sync_job")
    return job.execute_in_process(
        tags={RANGE_START_TAG: start, RANGE_END_TAG: end},
        instance=world["instance"],
        raise_on_error=False,
    )


def _quota_check(result: dg.ExecuteInProcessResult) -> Any:
    [check] = [
        c for c in result.get_asset_check_evaluations() if c.check_name == API_QUOTA_HEADROOM
    ]
    return check


def test_runs_and_sensor_ticks_share_one_count_and_the_check_warns_past_our_share(world):
    first = _run(world, "2026-11-01", "2026-11-10")
    assert first.success and _quota_check(first).passed
    calls = world["server"].state.stats.calls["instances"]
    [scan] = first.asset_materializations_for_node("yida_refund_instances")[:1]
    assert scan.metadata["api_calls_this_month"].value == calls
    assert str(scan.metadata["api_quota"].value).startswith("this month (")

    # A sensor tick's call counts too.
    world["mp"].setattr(late_changes, "now", lambda: AS_OF)
    sensor = defs().resolve_sensor_def("dd_refund_late_changes")
    # A context manager, as Dagster's daemon opens it: the database resource is torn down after.
    with dg.build_sensor_context(
        instance=world["instance"],
        resources={k: defs().resources[k] for k in ("yida", "refund_database")},
    ) as context:
        sensor.evaluate_tick(context)
    after_tick = world["server"].state.stats.calls["instances"]
    assert after_tick > calls

    # A quota so small that this month's pace exceeds 70% of it: the WARN check fails, the run
    # (and its data) does not.
    world["mp"].setenv("YIDA_MONTHLY_CALL_QUOTA", "20")
    second = _run(world, "2026-11-01", "2026-11-02")
    check = _quota_check(second)
    assert second.success and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    total = world["server"].state.stats.calls["instances"]
    assert check.metadata["calls_this_month"].value == total
    assert check.metadata["by_caller"].value["dd_refund_late_changes"] == after_tick - calls
    assert "more than 70% of the quota" in check.description

    world["mp"].setenv("YIDA_MONTHLY_CALL_QUOTA", "0")
    assert _quota_check(_run(world, "2026-11-01", "2026-11-01")).passed


def test_an_exhausted_org_quota_fails_at_once_saying_what_it_means(world):
    world["server"].state.update({"monthly_call_quota": 0})
    result = _run(world, "2026-11-01", "2026-11-03")
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.error.message
    assert "monthly API call quota is used up" in message
    assert "Forbidden.AccessDenied.ApiCountLimitForOrg" in message
    assert "resets on the 1st" in message
    retries = [
        e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert not retries  # nothing can change before the month does
    # The refused call is still counted: it is ours, whatever DingTalk bills.
    with world["engine"].connect() as conn:
        [(counted,)] = conn.execute(sa.text("SELECT SUM(list_calls) FROM yida_api_calls"))
    assert counted == world["server"].state.stats.calls["instances"]
