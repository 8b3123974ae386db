"""Freshness: yesterday's forms must be in the form's table by its deadline (09:00 China time).

Dagster 1.13's idiom: a ``FreshnessPolicy`` on the asset, evaluated by the daemon (the asset's
page shows Fresh / Failing), instead of a freshness check that ran inside every run that
selected it, backfills of old days included. The sensor below turns a Failing state into a
DingTalk message, once per time it fails.
"""

from datetime import datetime, timedelta

import dagster as dg

from dd_refund_pipeline.components.form_defs import FormDefs
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.lib.alerts import late_table_message
from dd_refund_pipeline.lib.delivery import deliver
from dd_refund_pipeline.lib.resources import DingTalkRobot


def freshness_policy(form: FormDefs) -> dg.FreshnessPolicy:
    """Fresh when a materialization landed between midnight and the deadline (China time).

    The daily look-back run (02:30 by default) re-reads the trailing days and so yesterday.
    """
    hours, minutes = (int(part) for part in form.freshness_deadline.split(":"))
    return dg.FreshnessPolicy.cron(
        deadline_cron=f"{minutes} {hours} * * *",
        lower_bound_delta=timedelta(hours=hours, minutes=minutes),
        timezone=CHINA_TZ.key,
    )


def build_freshness_sensor(form: FormDefs) -> dg.SensorDefinition:
    """A DingTalk message when the form's table turns Failing its freshness policy."""
    table = dg.AssetKey(form.table_asset)

    @dg.sensor(
        name=form.freshness_sensor,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"A DingTalk message when {form.table_asset} is late (deadline "
        f"{form.freshness_deadline} China time), once per time it turns late.",
    )
    def freshness(
        context: dg.SensorEvaluationContext, dingtalk_robot: DingTalkRobot
    ) -> dg.SensorResult:
        record = context.instance.get_freshness_state_records([table]).get(table)
        # The state's enum is not public API in 1.13; its value is the documented state name.
        if record is None or record.freshness_state.value != "FAIL":
            state = record.freshness_state.value if record else "not evaluated yet"
            return dg.SensorResult(skip_reason=f"{form.table_asset} freshness: {state}")
        since = record.updated_at.timestamp()
        if context.cursor and float(context.cursor) >= since:
            return dg.SensorResult(skip_reason=f"{form.table_asset} still late; already reported")
        failed_at = datetime.fromtimestamp(since, tz=CHINA_TZ)
        day = (failed_at - timedelta(days=1)).strftime("%Y-%m-%d")
        title, text = late_table_message(
            form.spec.source.form_name,
            form.table_asset,
            day,
            form.freshness_deadline,
            failed_at,
            form.schedule,
            dingtalk_robot.webserver_url,
        )
        unsent = deliver(context, dingtalk_robot, title, text)
        return dg.SensorResult(
            cursor=str(since), skip_reason=unsent.skip_message if unsent else None
        )

    return freshness
