"""A form's job and its daily re-sync of the trailing days, as one run."""

import dagster as dg

# The type define_asset_job returns; not exported at the top level in 1.13.
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from dd_refund_pipeline.components.form_defs import FormDefs
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.lib.partitions import range_tags


def range_run_request(keys: list[str]) -> dg.RunRequest:
    """One run over the days ``keys[0]..keys[-1]``; the run key makes a retried tick a no-op."""
    return dg.RunRequest(
        run_key=f"lookback:{keys[0]}...{keys[-1]}", tags=range_tags(keys[0], keys[-1])
    )


def build_job(
    form: FormDefs, name: str | None = None, purpose: str | None = None
) -> UnresolvedAssetJobDefinition:
    """A job of the form's three assets, with their checks, for a range of days.

    The form's sync job by default; ``name`` and ``purpose`` make another over the same assets.
    """
    return dg.define_asset_job(
        name or form.job,
        selection=dg.AssetSelection.groups(form.group),
        description=f"{form.spec.title}: "
        + (purpose or f"approved forms from DingTalk Yida into {form.table_asset}")
        + ", for a range of days.",
    )


def build_lookback_schedule(
    form: FormDefs, job: UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition:
    """The daily re-sync of the form's trailing days, in ONE run.

    Every day at 02:30 China time (the component's ``schedule_cron``), it re-syncs the form's
    trailing look-back days (``filters.lookback_days`` of its spec) in ONE run.
    """
    days = form.spec.filters.lookback_days

    @dg.schedule(
        name=form.schedule,
        job=job,
        # Settable for a deployment whose day starts elsewhere, and for the deployment test.
        cron_schedule=form.timing.schedule_cron,
        execution_timezone=CHINA_TZ.key,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Re-sync the last {days} complete days of {form.table_asset} in one run. Forms are "
            "approved up to weeks after they are filed (the creation day is the partition), so "
            "a form created long ago can become COMPLETED/agree only today; the upsert makes "
            "re-reading idempotent."
        ),
    )
    def lookback(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        keys = form.lookback_days(context.scheduled_execution_time)
        if not keys:
            return dg.SkipReason("no complete day since the partitions' start date yet")
        return range_run_request(keys)

    return lookback
