"""The alert sensors: on by default, an unsent alert named in the tick log, a late day once."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.lib.resources import DingTalkRobot
from dd_refund_pipeline_tests.ground_truth import form_defs

TABLE = dg.AssetKey("hc_dd_fktk")


def test_alert_sensors_are_on_by_default():
    hc_dd_fktk_freshness_sensor = form_defs().get_sensor_def("hc_dd_fktk_freshness_sensor")
    from dd_refund_pipeline.defs.sensors import dingtalk_on_failed_checks, dingtalk_on_run_failure

    for sensor in (dingtalk_on_run_failure, dingtalk_on_failed_checks, hc_dd_fktk_freshness_sensor):
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_an_unconfigured_robot_is_named_in_the_sensor_tick_log(capfd):
    from dd_refund_pipeline.defs.sensors import dingtalk_on_run_failure

    with dg.instance_for_test() as instance:
        result = dg.materialize([_failing_asset], instance=instance, raise_on_error=False)
        context = _without_robot(
            "dingtalk_on_run_failure", instance, result, result.get_run_failure_event()
        ).for_run_failure()
        capfd.readouterr()
        skipped = dingtalk_on_run_failure(context)
    # The tick list shows a skip with its reason, not a tick like any other (reproduced before:
    # "0 runs requested" and nothing else).
    assert isinstance(skipped, dg.SkipReason)
    assert "NOT SENT" in str(skipped.skip_message)
    assert "DINGTALK_ROBOT_ACCESS_TOKEN" in str(skipped.skip_message)
    # The sensor's log, which the daemon keeps as the tick's log in the UI.
    logged = capfd.readouterr().err
    assert "DingTalk alert NOT SENT" in logged
    assert "DINGTALK_ROBOT_ACCESS_TOKEN is unset" in logged
    assert "boom: the upstream is gone" in logged  # the alert itself is kept


def _without_robot(
    sensor: str,
    instance: dg.DagsterInstance,
    result: dg.ExecuteInProcessResult,
    event: dg.DagsterEvent,
) -> dg.RunStatusSensorContext:
    """``sensor``'s context for ``result``'s run, with no robot configured."""
    return dg.build_run_status_sensor_context(
        sensor_name=sensor,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=event,
        resources={"dingtalk_robot": DingTalkRobot()},
    )


@dg.asset
def _failing_asset() -> None:
    raise RuntimeError("boom: the upstream is gone")


def test_a_late_day_is_alerted_once_from_the_freshness_policy(make_emulator):
    """The daemon evaluates hc_dd_fktk's FreshnessPolicy; a Failing state reaches the group once,
    and no freshness step runs inside a backfill any more."""
    from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

    hc_dd_fktk_freshness_sensor = form_defs().get_sensor_def("hc_dd_fktk_freshness_sensor")
    hc_dd_fktk = form_defs().get_assets_def("hc_dd_fktk")

    policy = hc_dd_fktk.specs_by_key[TABLE].freshness_policy
    assert policy.deadline_cron == "0 9 * * *" and policy.timezone == "Asia/Shanghai"
    assert not [key for key in hc_dd_fktk.check_keys if "freshness" in key.name]

    server = make_emulator(instances=1)
    config = server.state.config
    robot = DingTalkRobot(
        base_url=server.base_url,
        access_token=config.robot_access_token,
        secret=config.robot_secret,
    )
    failing_since = datetime(2026, 11, 21, 9, 0, 30, tzinfo=CHINA_TZ).timestamp()
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"dingtalk_robot": robot})
        assert hc_dd_fktk_freshness_sensor(context).skip_reason is not None  # nothing yet
        # What the freshness daemon records when 09:00 passes without yesterday's load.
        instance._report_runless_asset_event(  # the daemon's own call
            asset_event=FreshnessStateChange(
                key=TABLE,
                previous_state=FreshnessState.PASS,
                new_state=FreshnessState.FAIL,
                state_change_timestamp=failing_since,
            )
        )
        first = hc_dd_fktk_freshness_sensor(context)
        again = hc_dd_fktk_freshness_sensor(
            dg.build_sensor_context(
                instance=instance, cursor=first.cursor, resources={"dingtalk_robot": robot}
            )
        )
    [message] = server.state.robot.messages
    assert message["markdown"]["title"] == "宜搭付款退款申请未按时入库 hc_dd_fktk 2026-11-20"
    assert "dd_refund_daily_schedule" in message["markdown"]["text"]
    assert "09:00" in message["markdown"]["text"]
    assert again.skip_reason and "already reported" in again.skip_reason.skip_message


def test_a_late_expense_table_is_named_as_the_expense_form_and_its_schedule():
    from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

    sensor = form_defs("fybx_expense").get_sensor_def("hc_dd_fybx_freshness_sensor")
    with dg.instance_for_test() as instance:
        instance._report_runless_asset_event(  # the daemon's own call
            asset_event=FreshnessStateChange(
                key=dg.AssetKey("hc_dd_fybx"),
                previous_state=FreshnessState.PASS,
                new_state=FreshnessState.FAIL,
                state_change_timestamp=datetime(2026, 11, 21, 9, 1, tzinfo=CHINA_TZ).timestamp(),
            )
        )
        result = sensor(
            dg.build_sensor_context(
                instance=instance, resources={"dingtalk_robot": DingTalkRobot()}
            )
        )
    # No robot: the tick is a skip naming the unsent alert, which names the expense form.
    assert result.skip_reason is not None
    message = str(result.skip_reason.skip_message)
    assert "NOT SENT" in message and "宜搭费用报销申请未按时入库 hc_dd_fybx 2026-11-20" in message


def test_a_run_names_the_forms_it_synced():
    from dd_refund_pipeline.defs.sensors import run_forms

    with dg.instance_for_test() as instance:
        for job, expected in (
            ("dd_expense_sync_job", "费用报销申请"),
            ("dd_refund_sync_job", "付款退款申请"),
            ("dd_refund_deep_reconcile_job", "付款退款申请"),
            ("some_other_job", "表单"),
        ):
            run = dg.DagsterRun(job_name=job)
            assert run_forms(instance, run) == expected
        both = dg.DagsterRun(
            job_name="__ASSET_JOB",
            asset_selection=frozenset({dg.AssetKey("hc_dd_fybx"), dg.AssetKey("hc_dd_fktk")}),
        )
        assert run_forms(instance, both) == "付款退款申请、费用报销申请"


@dg.asset
def _passing_asset() -> int:
    return 1


def test_without_a_robot_every_tick_of_the_failed_checks_sensor_says_so():
    """Dagster drops a tick's skip reason when another run of the same tick returned nothing;
    so without a robot a run with no failed checks says it too (seen on the deployed daemon)."""
    from dd_refund_pipeline.defs.sensors import dingtalk_on_failed_checks

    with dg.instance_for_test() as instance:
        result = dg.materialize([_passing_asset], instance=instance)
        context = _without_robot(
            "dingtalk_on_failed_checks", instance, result, result.get_run_success_event()
        )
        skipped = dingtalk_on_failed_checks(context)
    assert isinstance(skipped, dg.SkipReason) and "NOT SENT" in str(skipped.skip_message)
