"""Sending an alert from a sensor: sent, or a skip that says why not, never a broken sensor."""

import dagster as dg

from dd_refund_pipeline.lib.resources import DingTalkRobot


def deliver(
    context: dg.SensorEvaluationContext | dg.RunStatusSensorContext,
    robot: DingTalkRobot,
    title: str,
    text: str,
) -> dg.SkipReason | None:
    """Send, or say why not; an alert that cannot be sent never breaks the sensor.

    Unsent for want of a robot, the tick is a skip whose reason says so: the tick list shows it,
    where a sent alert's tick reads like any other.
    """
    if not robot.access_token:
        # Then this tick log is the only place the alert exists: say so, and keep its text.
        context.log.warning(
            f"DingTalk alert NOT SENT: no robot is configured (DINGTALK_ROBOT_ACCESS_TOKEN is "
            f"unset), so nobody is told. Set DINGTALK_ROBOT_ACCESS_TOKEN (and "
            f"DINGTALK_ROBOT_SECRET) to reach the team's group. The alert:\n{title}\n{text}"
        )
        return dg.SkipReason(
            f"alert NOT SENT, no DingTalk robot configured (set DINGTALK_ROBOT_ACCESS_TOKEN): "
            f"{title}"
        )
    try:
        reply = robot.send_markdown(title, text)
    except Exception as exc:
        context.log.warning(f"DingTalk alert failed: {type(exc).__name__}")
        return None
    if reply.ok and reply.emulated:
        context.log.info(
            f"alert sent to the Yida emulator's robot (make dev), not to a DingTalk group; "
            f"it keeps what it got at {robot.base_url}/_emulator/robot: {title}"
        )
    elif reply.ok:
        context.log.info(f"DingTalk alert sent: {title}")
    else:
        context.log.warning(f"DingTalk alert not sent ({reply.errcode} {reply.errmsg}):\n{text}")
    return None
