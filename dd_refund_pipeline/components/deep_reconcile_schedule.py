"""A form's deep reconciliation: its old days listed again every week, so the table stays Yida's.

The daily run re-reads the look-back, and the late-change sensor finds forms *changed* since its
cursor, asking with the form's own filters. Neither sees a form that stopped matching (withdrawn,
是 → 否) or was deleted after its creation day left the look-back. Every week (Sunday 04:00 China
time, ``DD_REFUND_DEEP_RECONCILE_CRON``) this schedule runs the form's three assets over its old
days, ``DD_REFUND_DEEP_RECONCILE_DAYS`` (400) back to the day before the look-back's oldest, as
ONE run of the form's deep-reconciliation job: one listing of every matching form (a page per
100 forms, split as the deep-paging cap requires), the gone-upstream policy applied to what Yida
no longer returns, and what it returns loaded, missing rows included. Its per-day verdicts are
the table's checks.

It costs about one list call per 100 matching forms. Before it spends them it estimates the cost
from the sync state, and skips the week with a warning when the month's projected calls plus
the estimate would pass our share of the organisation's quota.
"""

import math

import dagster as dg

# The type define_asset_job returns; not exported at the top level in 1.13.
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from dd_refund_pipeline.components.form_defs import FormDefs
from dd_refund_pipeline.components.late_changes_sensor import TRIGGER_TAG
from dd_refund_pipeline.components.lookback_schedule import build_job
from dd_refund_pipeline.dingtalk.query import MAX_PAGE_SIZE, ClientSettings
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.lib.partitions import range_tags, window_label
from dd_refund_pipeline.lib.resources import FormDatabase, YidaResource

ESTIMATE_TAG = "dd_refund/estimated_list_calls"


def old_days(keys: list[str], lookback: int, back: int) -> list[str]:
    """The days of ``keys`` (complete days, oldest first) the look-back no longer reads.

    At most ``back`` days before the newest; the partitions' start bounds them already.
    """
    return keys[-back:-lookback] if back > lookback else []


def estimated_list_calls(forms: int, page_size: int = MAX_PAGE_SIZE) -> int:
    """The list calls a listing of ``forms`` matching forms costs, at most.

    A page per ``page_size`` forms, one read of the forms modified since the listing began, and
    one more per part the deep-paging cap splits the window into.
    """
    parts = max(1, math.ceil(forms / ClientSettings().deep_paging_cap))
    return 1 + math.ceil(forms / page_size) + parts


def build_deep_reconcile_job(form: FormDefs) -> UnresolvedAssetJobDefinition:
    """The form's three assets over its old days: the same assets, a job of its own."""
    purpose = (
        f"the old days listed again, forms gone from Yida flagged or removed and missing ones "
        f"loaded into {form.table_asset}"
    )
    return build_job(form, form.deep_reconcile_job, purpose)


def build_deep_reconcile_schedule(
    form: FormDefs, job: UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition:
    """Every week, one run of ``job`` over the form's days older than its look-back."""
    lookback = form.spec.filters.lookback_days
    back = form.timing.deep_reconcile_days

    @dg.schedule(
        name=form.deep_reconcile_schedule,
        job=job,
        cron_schedule=form.timing.deep_reconcile_cron,
        execution_timezone=CHINA_TZ.key,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Weekly: list {form.table_asset}'s days older than the {lookback}-day look-back "
            f"(up to {back} days back) in one run; forms Yida no longer "
            "returns are flagged or removed (DD_REFUND_GONE_UPSTREAM), missing ones loaded. "
            "Skipped with a warning when it would push the month past the quota share."
        ),
    )
    def deep_reconcile(
        context: dg.ScheduleEvaluationContext, yida: YidaResource, refund_database: FormDatabase
    ) -> dg.RunRequest | dg.SkipReason:
        keys = form.days.get_partition_keys(current_time=context.scheduled_execution_time)
        days = old_days(list(keys), lookback, back)
        if not days:
            return dg.SkipReason(f"no day older than the {lookback}-day look-back yet")
        first, last = days[0], days[-1]
        forms = refund_database.tracked_forms(form.spec, first, last)
        estimate = estimated_list_calls(forms)
        settings = yida.quota()
        month = refund_database.record_api_calls(form.deep_reconcile_schedule, 0)
        cost = (
            f"{window_label(first, last)}: {forms} forms known, about {estimate} list calls; "
            f"{month.summary(settings)}"
        )
        if settings.monthly_quota and month.projected + estimate > settings.allowed:
            message = (
                f"deep reconciliation skipped this week, {cost}: with it the month would pass "
                f"{settings.share_percent:g}% of the quota ({round(settings.allowed)} calls). "
                f"Materialize {form.deep_reconcile_job} for fewer days, or wait for next month"
            )
            context.log.warning(message)
            return dg.SkipReason(message)
        context.log.info(f"deep reconciliation {cost}")
        return dg.RunRequest(
            run_key=f"deep-reconcile:{first}...{last}",
            tags={
                **range_tags(first, last),
                TRIGGER_TAG: "deep_reconcile",
                ESTIMATE_TAG: str(estimate),
            },
        )

    return deep_reconcile
