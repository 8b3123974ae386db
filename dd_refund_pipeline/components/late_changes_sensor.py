"""A form's late-change sensor (``dd_refund_late_changes``): forms changed after the look-back.

The daily run re-reads the forms *created* in the form's look-back (25 days for refunds). A form
approved later than that (the emulator approves up to 40 days after filing), or edited long
after, is never read again by it. Every few hours this sensor asks Yida, with the form's own
filters, for forms *modified* since its cursor and created on a day no later scheduled run will
read (every day up to and including the look-back's oldest, which today's scheduled run may
already have read), and requests runs of the three assets for their creation days: one run per
contiguous range of days.

Its cursor holds the time of its last sweep and the runs it requested that have not succeeded
yet: each tick looks them up by run key, waits for those in flight, requests a failed or
canceled one again under a new key, and forgets one only once it has succeeded. So a change is
behind the cursor only when a run that read it has succeeded.
"""

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd

# The type define_asset_job returns; not exported at the top level in 1.13.
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from dd_refund_pipeline.components.form_defs import FormDefs
from dd_refund_pipeline.dingtalk.instance_set import InstanceSet
from dd_refund_pipeline.dingtalk.scan_stats import ScanStats
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ, local_days
from dd_refund_pipeline.lib.partitions import range_tags, window_label
from dd_refund_pipeline.lib.quota import count_calls
from dd_refund_pipeline.lib.resources import FormDatabase, YidaResource

# Yida's search index can lag an edit by a little; a sweep starts this much before its cursor.
SAFETY_MARGIN = timedelta(minutes=10)
TRIGGER_TAG = "dd_refund/trigger"
# The tags the sensor daemon puts on the runs it launches (dagster._core.storage.tags).
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"
_IN_FLIGHT = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.MANAGED,
    dg.DagsterRunStatus.CANCELING,
}


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


@dataclass(frozen=True)
class OwedRun:
    """A run the sensor requested for ``first..last`` and has not seen succeed yet."""

    first: str
    last: str
    since: str  # the sweep's cursor when the change was found: part of the run key
    attempt: int = 1

    @property
    def run_key(self) -> str:
        """The key Dagster launches once: a repeated request of the same attempt is a no-op."""
        key = f"late-changes:{self.first}...{self.last}:since {self.since}"
        return key if self.attempt == 1 else f"{key}#{self.attempt}"

    @property
    def days(self) -> list[str]:
        """Every day of the range."""
        return [str(day.date()) for day in pd.date_range(self.first, self.last)]

    @property
    def label(self) -> str:
        """The range as the tick shows it."""
        return window_label(self.first, self.last)

    def request(self) -> dg.RunRequest:
        """The run of the form's job over the range."""
        tags = {**range_tags(self.first, self.last), TRIGGER_TAG: "late_changes"}
        return dg.RunRequest(run_key=self.run_key, tags=tags)


@dataclass
class SweepCursor:
    """The sensor's cursor: when it last swept, and the runs it still owes."""

    since: datetime
    owed: list[OwedRun] = field(default_factory=list)

    def dumps(self) -> str:
        """The cursor as Dagster stores it (JSON)."""
        owed = [asdict(run) for run in self.owed]
        return json.dumps({"since": self.since.isoformat(), "owed": owed})

    @classmethod
    def loads(cls, text: str) -> "SweepCursor":
        """A stored cursor; a bare time is the cursor of an earlier release (nothing owed)."""
        if not text.lstrip().startswith("{"):
            return cls(datetime.fromisoformat(text))
        document = json.loads(text)
        owed = [OwedRun(**run) for run in document.get("owed", [])]
        return cls(datetime.fromisoformat(document["since"]), owed)


@dataclass
class OwedRuns:
    """What became of the runs a cursor owes, as one tick finds them."""

    waiting: list[tuple[OwedRun, str]] = field(default_factory=list)  # with the run's id
    again: list[OwedRun] = field(default_factory=list)  # failed or canceled: a new attempt
    unlaunched: list[OwedRun] = field(default_factory=list)  # requested, no run yet
    done: list[OwedRun] = field(default_factory=list)

    @property
    def still_owed(self) -> list[OwedRun]:
        """What the next cursor owes."""
        return [run for run, _ in self.waiting] + self.again + self.unlaunched

    @property
    def to_request(self) -> list[OwedRun]:
        """What this tick requests (again)."""
        return self.again + self.unlaunched


def follow_up(instance: dg.DagsterInstance, sensor: str, owed: list[OwedRun]) -> OwedRuns:
    """Look up each owed run by its run key: succeeded, in flight, failed, or not launched."""
    found = OwedRuns()
    for run in owed:
        runs = instance.get_runs(
            filters=dg.RunsFilter(tags={RUN_KEY_TAG: run.run_key, SENSOR_NAME_TAG: sensor})
        )
        statuses = {launched.status for launched in runs}
        if dg.DagsterRunStatus.SUCCESS in statuses:
            found.done.append(run)
        elif statuses & _IN_FLIGHT:
            found.waiting.append((run, next(r.run_id for r in runs if r.status in _IN_FLIGHT)))
        elif runs:
            found.again.append(replace(run, attempt=run.attempt + 1))
        else:
            found.unlaunched.append(run)
    return found


def tick_report(owed: OwedRuns, new: list[OwedRun]) -> str:
    """What the tick requested and what it waits for, as one line."""
    parts = []
    if new:
        parts.append("requested " + ", ".join(run.label for run in new))
    if owed.again:
        parts.append(
            "requested again after a failed run "
            + ", ".join(f"{run.label} (attempt {run.attempt})" for run in owed.again)
        )
    if owed.unlaunched:
        parts.append(
            "requested again, not launched yet " + ", ".join(r.label for r in owed.unlaunched)
        )
    if owed.waiting:
        parts.append(
            "waiting for " + ", ".join(f"{run.label} (run {rid})" for run, rid in owed.waiting)
        )
    if owed.done:
        parts.append("succeeded " + ", ".join(run.label for run in owed.done))
    return "; ".join(parts) or "nothing owed"


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
        minimum_interval_seconds=int(form.timing.late_changes_interval_hours * 3600),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Runs for the creation days of {spec.source.form_name or spec.name} forms "
        f"approved or edited after the {spec.filters.lookback_days}-day look-back window.",
    )
    def late_changes(
        context: dg.SensorEvaluationContext, yida: YidaResource, refund_database: FormDatabase
    ) -> dg.SensorResult:
        """Request runs for the creation days of forms changed since the cursor.

        The cursor is the time of the last sweep and the runs still owed; a tick with nothing new
        spends one list call and says so in its skip reason. A repeated tick (same cursor, same
        days) requests runs with the same run keys, which Dagster does not launch twice.
        """
        at = now()
        cursor = (
            SweepCursor.loads(context.cursor)
            if context.cursor
            else SweepCursor(default_start(context.instance, form, at))
        )
        window = form.lookback_days(at)
        if not window:
            return dg.SensorResult(skip_reason="no day before the look-back window yet")
        owed = follow_up(context.instance, form.late_changes_sensor, cursor.owed)
        # Up to and including the look-back's oldest day: today's scheduled run may have read it
        # before a change, and no later scheduled run reads it again.
        last_day = window[0]
        days_def = form.days
        created_by = days_def.time_window_for_partition_key(last_day).end
        first = days_def.time_window_for_partition_key(days_def.get_first_partition_key()).start
        settings = yida.quota()
        stats = ScanStats()
        try:
            result = yida.scan(
                spec,
                first,
                created_by - timedelta(seconds=1),
                modified_since=cursor.since - SAFETY_MARGIN,
                stats=stats,
            )
        finally:
            month = count_calls(context.log, refund_database, form.late_changes_sensor, stats)
        calls = result.stats.calls["instances"]
        if month is not None:
            context.log.info(f"Yida API calls {month.summary(settings)}")
        # A run this tick requests (again) starts after the change was found: it reads it too.
        covered = {day for run in owed.to_request for day in run.days}
        changed = [day for day in creation_days(result.instances) if day <= last_day]
        days = [day for day in changed if day not in covered]
        since = cursor.since.isoformat()
        new = [OwedRun(start, end, since) for start, end in contiguous_ranges(days)]
        report = tick_report(owed, new)
        found = (
            f"late changes since {cursor.since:%Y-%m-%d %H:%M} (created up to {last_day}): "
            f"{len(result.instances)} forms on {len(changed)} days, {calls} list call(s)"
        )
        context.log.info(f"{found}; {report}")
        next_cursor = SweepCursor(at, owed.still_owed + new).dumps()
        requests = [run.request() for run in owed.to_request + new]
        if not requests:
            return dg.SensorResult(skip_reason=f"{found}; {report}", cursor=next_cursor)
        return dg.SensorResult(run_requests=requests, cursor=next_cursor)

    return late_changes
