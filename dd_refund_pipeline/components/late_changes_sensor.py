"""A form's late-change sensor (``dd_refund_late_changes``): forms changed after the look-back.

The daily run re-reads the forms *created* in the form's look-back (25 days for refunds). A form
approved later than that (the emulator approves up to 40 days after filing), or edited long
after, is never read again by it. Every few hours this sensor asks Yida, with the form's own
filters, for forms *modified*
since its cursor and created before the look-back window, and requests runs of the three assets
for their creation days: one run per contiguous range of days.
"""

import os
from datetime import datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd

# The type define_asset_job returns; not exported at the top level in 1.13.
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from dd_refund_pipeline.components.form_defs import FormDefs
from dd_refund_pipeline.defs.api_quota import count_calls, quota_settings
from dd_refund_pipeline.defs.partitions import form_days, lookback_days, range_tags
from dd_refund_pipeline.defs.resources import RefundDatabase, YidaResource
from dd_refund_pipeline.dingtalk.instance_set import InstanceSet
from dd_refund_pipeline.dingtalk.scan_stats import ScanStats
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ, local_days

INTERVAL_ENV = "DD_REFUND_LATE_CHANGES_INTERVAL_HOURS"
# Four sweeps a day: about 120 list calls a month when nothing changes.
INTERVAL_HOURS = float(os.environ.get(INTERVAL_ENV) or 6)
# Yida's search index can lag an edit by a little; a sweep starts this much before its cursor.
SAFETY_MARGIN = timedelta(minutes=10)
TRIGGER_TAG = "dd_refund/trigger"


def now() -> datetime:
    """The sensor's clock (a function, so that tests can move time)."""
    return datetime.now(tz=CHINA_TZ)


def contiguous_ranges(days: list[str]) -> list[tuple[str, str]]:
    """Sorted days as runs of consecutive days: ``[("2026-10-01", "2026-10-03"), …]``."""
    ranges: list[tuple[str, str]] = []
    for day in sorted(set(days)):
        previous = ranges[-1][1] if ranges else None
        if previous and pd.Timestamp(day) - pd.Timestamp(previous) == pd.Timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def creation_days(found: InstanceSet) -> list[str]:
    """The China days the found forms were created on (forms without a readable time: none)."""
    created = found.created(found.rows())
    created = created[~np.isnan(created)]
    return sorted(set(local_days(pd.to_datetime(created, unit="s", utc=True), CHINA_TZ)))


def default_start(instance: dg.DagsterInstance, form: FormDefs, at: datetime) -> datetime:
    """Without a cursor: the start of the form's last successful look-back run, else 24 h ago."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=form.job,
            statuses=[dg.DagsterRunStatus.SUCCESS],
            tags={"dagster/schedule_name": form.schedule},
        ),
        limit=1,
    )
    if records and records[0].start_time:
        return datetime.fromtimestamp(records[0].start_time, tz=CHINA_TZ)
    return at - timedelta(hours=24)


def build_late_changes_sensor(
    form: FormDefs, job: UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    """Runs of ``job`` for the creation days of forms approved or edited after the look-back."""
    spec = form.spec

    @dg.sensor(
        name=form.late_changes_sensor,
        job=job,
        minimum_interval_seconds=int(INTERVAL_HOURS * 3600),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Runs for the creation days of {spec.source.form_name or spec.name} forms "
        f"approved or edited after the {spec.filters.lookback_days}-day look-back window.",
    )
    def late_changes(
        context: dg.SensorEvaluationContext, yida: YidaResource, refund_database: RefundDatabase
    ) -> dg.SensorResult:
        """Request runs for the creation days of forms changed since the cursor.

        The cursor is the time of the last sweep; a tick with nothing new spends one list call
        and says so in its skip reason. A repeated tick (same cursor, same days) requests runs
        with the same run keys, which Dagster does not launch twice.
        """
        at = now()
        since = (
            datetime.fromisoformat(context.cursor)
            if context.cursor
            else default_start(context.instance, form, at)
        )
        window = lookback_days(at, spec.filters.lookback_days)
        if not window:
            return dg.SensorResult(skip_reason="no day before the look-back window yet")
        older_than = form_days.time_window_for_partition_key(window[0]).start
        first_day = form_days.get_first_partition_key()
        first = form_days.time_window_for_partition_key(first_day).start
        settings = quota_settings()
        stats = ScanStats()
        try:
            result = yida.scan(
                spec,
                first,
                older_than - timedelta(seconds=1),
                modified_since=since - SAFETY_MARGIN,
                stats=stats,
            )
        finally:
            month = count_calls(context.log, refund_database, form.late_changes_sensor, stats)
        calls = result.stats.calls["instances"]
        if month is not None:
            context.log.info(f"Yida API calls {month.summary(settings)}")
        days = [day for day in creation_days(result.instances) if day < window[0]]
        cursor = at.isoformat()
        context.log.info(
            f"late changes since {since:%Y-%m-%d %H:%M} (created before {window[0]}): "
            f"{len(result.instances)} forms on {len(days)} days, {calls} list call(s)"
        )
        if not days:
            return dg.SensorResult(
                skip_reason=f"no form created before {window[0]} changed since "
                f"{since:%Y-%m-%d %H:%M} ({calls} list call(s))",
                cursor=cursor,
            )
        requests = [
            dg.RunRequest(
                run_key=f"late-changes:{start}...{end}:since {since.isoformat()}",
                tags={**range_tags(start, end), TRIGGER_TAG: "late_changes"},
            )
            for start, end in contiguous_ranges(days)
        ]
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return late_changes
