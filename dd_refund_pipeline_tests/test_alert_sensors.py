"""The alert sensors: on by default, an unsent alert named in the tick log, a late day once."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from dd_refund_pipeline.defs.resources import DingTalkRobot
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
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
        context = dg.build_run_status_sensor_context(
            sensor_name="dingtalk_on_run_failure",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
            resources={"dingtalk_robot": DingTalkRobot()},
        ).for_run_failure()
        capfd.readouterr()
        dingtalk_on_run_failure(context)
    # The sensor's log, which the daemon keeps as the tick's log in the UI.
    logged = capfd.readouterr().err
    assert "DingTalk alert NOT SENT" in logged
    assert "DINGTALK_ROBOT_ACCESS_TOKEN is unset" in logged
    assert "boom: the upstream is gone" in logged  # the alert itself is kept


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
    assert message["markdown"]["title"] == "宜搭退款未按时入库 hc_dd_fktk 2026-11-20"
    assert "09:00" in message["markdown"]["text"]
    assert again.skip_reason and "already reported" in again.skip_reason.skip_message
