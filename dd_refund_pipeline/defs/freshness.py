"""Freshness: yesterday's refunds must be in ``hc_dd_fktk`` by 09:00 China time.

Dagster 1.13's idiom: a ``FreshnessPolicy`` on the asset, evaluated by the daemon (the asset's
page shows Fresh / Failing), instead of a freshness check that ran inside every run that
selected it, backfills of old days included. The sensor below turns a Failing state into a
DingTalk message, once per time it fails.
"""

from datetime import datetime, timedelta

import dagster as dg

from dd_refund_pipeline.alerts import late_table_message
from dd_refund_pipeline.defs.resources import DingTalkRobot
from dd_refund_pipeline.defs.sensors import deliver
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ

DEADLINE_CRON = "0 9 * * *"
TABLE = dg.AssetKey("hc_dd_fktk")

# Fresh when a materialization landed between midnight and the 09:00 deadline (China time):
# the daily 02:30 run, which re-reads the trailing days and so yesterday.
hc_dd_fktk_freshness_policy = dg.FreshnessPolicy.cron(
    deadline_cron=DEADLINE_CRON, lower_bound_delta=timedelta(hours=9), timezone=CHINA_TZ.key
)


@dg.sensor(
    name="hc_dd_fktk_freshness_sensor",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def hc_dd_fktk_freshness_sensor(
    context: dg.SensorEvaluationContext, dingtalk_robot: DingTalkRobot
) -> dg.SensorResult:
    """A DingTalk message when ``hc_dd_fktk`` turns Failing its freshness policy (a late day)."""
    record = context.instance.get_freshness_state_records([TABLE]).get(TABLE)
    # The state's enum is not public API in 1.13; its value is the documented state name.
    if record is None or record.freshness_state.value != "FAIL":
        state = record.freshness_state.value if record else "not evaluated yet"
        return dg.SensorResult(skip_reason=f"hc_dd_fktk freshness: {state}")
    since = record.updated_at.timestamp()
    if context.cursor and float(context.cursor) >= since:
        return dg.SensorResult(skip_reason="hc_dd_fktk still late; already reported")
    failed_at = datetime.fromtimestamp(since, tz=CHINA_TZ)
    day = (failed_at - timedelta(days=1)).strftime("%Y-%m-%d")
    title, text = late_table_message(
        TABLE.to_user_string(), day, "09:00", failed_at, dingtalk_robot.webserver_url
    )
    deliver(context, dingtalk_robot, title, text)
    return dg.SensorResult(cursor=str(since))
