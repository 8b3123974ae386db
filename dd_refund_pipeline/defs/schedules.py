"""The daily re-sync of the trailing days, as one run."""

import os
from datetime import datetime

import dagster as dg

from dd_refund_pipeline.defs.form import FORM_SPEC
from dd_refund_pipeline.defs.jobs import dd_refund_sync_job
from dd_refund_pipeline.defs.partitions import refund_days
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ

# Dagster's run tags for a partition-range run; RunRequest has no public range argument in 1.13
# (proposed in dagster-io/dagster#34096). The same strings as dagster._core.storage.tags.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
CRON_ENV = "DD_REFUND_SCHEDULE_CRON"
# 02:30 China time: after midnight's approvals, before the finance team's morning.
DEFAULT_CRON = "30 2 * * *"


def lookback_days(scheduled_time: datetime, days: int) -> list[str]:
    """The last ``days`` complete China days before ``scheduled_time`` (never the wall clock)."""
    return refund_days.get_partition_keys(current_time=scheduled_time)[-days:]


def range_run_request(keys: list[str]) -> dg.RunRequest:
    """One run over the days ``keys[0]..keys[-1]``; the run key makes a retried tick a no-op."""
    return dg.RunRequest(
        run_key=f"lookback:{keys[0]}...{keys[-1]}",
        tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},
    )


@dg.schedule(
    job=dd_refund_sync_job,
    # Settable for a deployment whose day starts elsewhere, and for the deployment test.
    cron_schedule=os.environ.get(CRON_ENV, "").strip() or DEFAULT_CRON,
    execution_timezone=CHINA_TZ.key,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def dd_refund_daily_schedule(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    """Every day at 02:30 China time (``DD_REFUND_SCHEDULE_CRON``), re-sync the trailing 25
    complete days in ONE run.

    Refund forms are approved up to weeks after they are filed (the form's creation day is the
    partition), so a form created 20 days ago can become COMPLETED/agree only today: the seed
    scheme re-read 25 days of creation time for that reason, and so does this schedule. The
    upsert makes re-reading idempotent; the look-back comes from the form spec.
    """
    keys = lookback_days(context.scheduled_execution_time, FORM_SPEC.filters.lookback_days)
    if not keys:
        return dg.SkipReason("no complete day since the partitions' start date yet")
    return range_run_request(keys)
