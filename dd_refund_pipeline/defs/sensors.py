"""Alerts to the team's DingTalk group: failed runs, and failed checks of successful runs."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from dd_refund_pipeline.lib.alerts import (
    FailedCheck,
    StepError,
    days_listed,
    failed_checks_message,
    run_failure_message,
)
from dd_refund_pipeline.lib.delivery import deliver
from dd_refund_pipeline.lib.partitions import run_window
from dd_refund_pipeline.lib.resources import DingTalkRobot


def run_subject(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """What a run worked on, as the team names it: our job, or the assets of a UI run.

    Runs launched from the asset pages belong to Dagster's internal ``__ASSET_JOB``, a name
    nobody defined; their assets (else the steps they planned) say what they were.
    """
    if not run.job_name.startswith("__"):
        return run.job_name
    return ", ".join(_run_assets(instance, run)) or "assets"


def _run_assets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """The assets a run selected, else the steps it planned (one step per asset here)."""
    assets = sorted(key.to_user_string() for key in run.asset_selection or ())
    if not assets and run.execution_plan_snapshot_id:
        plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        assets = sorted(plan.step_keys_to_execute)
    return assets


def run_forms(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """The forms a run synced, as the team names them (``付款退款申请``), for the alert's title.

    A run of one form's job or assets names that form; "Materialize all" names each.
    """
    # Imported here: the form components import this module for ``deliver``.
    from dd_refund_pipeline.components.form_sync import project_forms

    assets = set(_run_assets(instance, run))
    names = [
        form.spec.source.form_name
        for form in project_forms()
        if run.job_name in (form.job, form.deep_reconcile_job)
        or assets & {form.instances_asset, form.rows_asset, form.table_asset}
    ]
    return "、".join(names) or "表单"


def _summary(metadata: Mapping[str, dg.MetadataValue]) -> str:
    numbers = [
        f"{key}={value.value}"
        for key, value in metadata.items()
        if isinstance(value.value, int | float) and not isinstance(value.value, bool)
    ]
    return ", ".join(numbers) or "failed"


def failed_checks_of_run(instance: dg.DagsterInstance, run_id: str) -> list[FailedCheck]:
    """Every check of the run that did not pass, once per check with the days it failed on.

    Run-scoped (works on any storage). Per-day checks fail day by day; the team wants one line
    per check that names the days, not 25 lines.
    """
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    grouped: dict[tuple[str, str, str], list[Any]] = {}
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event else None
        if not isinstance(evaluation, dg.AssetCheckEvaluation) or evaluation.passed:
            continue
        key = (
            evaluation.asset_key.to_user_string(),
            evaluation.check_name,
            evaluation.severity.value,
        )
        grouped.setdefault(key, []).append(evaluation)
    return [
        FailedCheck(asset, check, severity, _days_summary(evaluations))
        for (asset, check, severity), evaluations in grouped.items()
    ]


def _days_summary(evaluations: list[Any]) -> str:
    days = sorted({e.partition for e in evaluations if e.partition})
    first = _summary(evaluations[0].metadata)
    if not days:
        return first
    return f"{len(days)} day(s): {days_listed(days)}; first: {first}"


def _root_cause(event: dg.DagsterEvent) -> str:
    data = event.event_specific_data
    error = getattr(data, "error", None)
    # Dagster wraps user errors (DagsterExecutionStepExecutionError); the cause says what broke.
    while error is not None and error.cause is not None:
        error = error.cause
    return error.message.strip() if error else "unknown error"


@dg.run_failure_sensor(
    name="dingtalk_on_run_failure", default_status=dg.DefaultSensorStatus.RUNNING
)
def dingtalk_on_run_failure(
    context: dg.RunFailureSensorContext, dingtalk_robot: DingTalkRobot
) -> dg.SkipReason | None:
    """A failed run → the job, its days, each failed step's root cause, and a link to the run."""
    run = context.dagster_run
    steps = [
        StepError(event.step_key or "?", _root_cause(event))
        for event in context.get_step_failure_events()
    ]
    if not steps and context.failure_event.message:
        steps = [StepError("run", context.failure_event.message)]
    title, text = run_failure_message(
        run_forms(context.instance, run),
        run_subject(context.instance, run),
        run.run_id,
        run_window(run.tags),
        steps,
        failed_checks_of_run(context.instance, run.run_id),
        dingtalk_robot.webserver_url,
    )
    return deliver(context, dingtalk_robot, title, text)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="dingtalk_on_failed_checks",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def dingtalk_on_failed_checks(
    context: dg.RunStatusSensorContext, dingtalk_robot: DingTalkRobot
) -> dg.SkipReason | None:
    """A successful run whose WARN or non-blocking checks failed → one message for all of them."""
    run = context.dagster_run
    failed = failed_checks_of_run(context.instance, run.run_id)
    if not failed:
        # Without a robot every tick says so: a tick that handles runs quietly as well as the
        # unsent alert shows no skip reason at all (Dagster keeps a reason only for ticks whose
        # every run returned one).
        return (
            None
            if dingtalk_robot.access_token
            else dg.SkipReason(
                f"no DingTalk robot configured (set DINGTALK_ROBOT_ACCESS_TOKEN): alerts are NOT "
                f"SENT; run {run.run_id[:8]} had no failed checks"
            )
        )
    title, text = failed_checks_message(
        run_forms(context.instance, run),
        run_subject(context.instance, run),
        run.run_id,
        run_window(run.tags),
        failed,
        dingtalk_robot.webserver_url,
    )
    return deliver(context, dingtalk_robot, title, text)
