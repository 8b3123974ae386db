"""A form's raw asset (``yida_refund_instances``): the approved forms Yida holds for its days."""

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import dagster as dg
import pandas as pd

from dd_refund_pipeline.checks.check_names import (
    API_QUOTA_HEADROOM,
    FORMS_IN_THEIR_DAYS,
    SAMPLE_SIZE,
)
from dd_refund_pipeline.components.form_defs import FormDefs
from dd_refund_pipeline.days.day_instances import split_by_day
from dd_refund_pipeline.days.raw_instances import RawInstances
from dd_refund_pipeline.dingtalk.errors import DingTalkApiError, RetryableApiError
from dd_refund_pipeline.dingtalk.scan_stats import ScanStats
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.forms.spec import FormSpec
from dd_refund_pipeline.lib.quota import (
    count_calls,
    quota_check,
    quota_metadata,
)
from dd_refund_pipeline.lib.resources import FormDatabase, YidaResource
from dd_refund_pipeline.lib.run_metadata import (
    day_counts_table,
    preview,
    record_day_counts,
    run_days,
)
from dd_refund_pipeline.load.loader import DatabaseError, quarantine
from dd_refund_pipeline.transform.instances import outside_window_rejects

# The raw materialization's metadata entry: when its scan began (UTC, ISO 8601).
SCAN_STARTED = "scan_started_at"

QUOTA_DESCRIPTION = (
    "This month's list calls (China time, all runs and sensors of every form), projected to the "
    "month's end, stay within our share of the organisation's DingTalk quota "
    "(YIDA_MONTHLY_CALL_QUOTA × YIDA_QUOTA_SHARE_PERCENT, 5,000 × 70% by default). WARN."
)


IN_THEIR_DAYS_DESCRIPTION = (
    "Every form Yida returned for the run's days was created on one of them (China day of "
    "createTimeGMT). One that was not is quarantined in the rejects table with the day it names, "
    "never loaded into another day or dropped; this check fails and names that day."
)


def _quarantine(database: FormDatabase, spec: FormSpec, rejects: pd.DataFrame, run: str) -> None:
    try:
        quarantine(database.engine(), spec, rejects, run)
    except DatabaseError as error:
        raise dg.Failure(description=str(error)) from None


def _in_their_days(misplaced: pd.DataFrame, rejects_table: str) -> dg.AssetCheckResult:
    days = sorted(set(misplaced["partition_date"].dropna())) if len(misplaced) else []
    shown = ["process_instance_id", "partition_date", "raw_value", "serial_number", "created_at"]
    return dg.AssetCheckResult(
        check_name=FORMS_IN_THEIR_DAYS,
        passed=misplaced.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None
        if misplaced.empty
        else f"{len(misplaced)} form(s) created on {', '.join(days)}, outside the run's days, "
        f"quarantined in {rejects_table}: Yida's createTimeGMT and our China days disagree",
        metadata={
            "outside": len(misplaced),
            "days_yida_put_them_in": ", ".join(days) or "none",
            "sample": preview(misplaced.head(SAMPLE_SIZE), shown),
        },
    )


def build_instances_asset(form: FormDefs) -> dg.AssetsDefinition:
    """The raw ``GetInstances`` payloads of ``form``, one JSON Lines file per day of creation."""
    spec = form.spec

    @dg.asset(
        name=form.instances_asset,
        group_name=form.group,
        partitions_def=form.days,
        # One run, one scan for any range: a backfill of a year costs the API what a year of
        # pages costs, not 365 scans (the monthly call quota is small).
        backfill_policy=dg.BackfillPolicy.single_run(),
        # Runs that overlap (a backfill during the schedule, two forms) take turns at the API's
        # QPS limit: every form's scan holds the one ``yida_api`` slot.
        pool="yida_api",
        io_manager_key="refund_storage",
        owners=form.owners,
        kinds={"dingtalk", "json"},
        retry_policy=dg.RetryPolicy(
            max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
        ),
        check_specs=[
            dg.AssetCheckSpec(
                API_QUOTA_HEADROOM, asset=form.instances_asset, description=QUOTA_DESCRIPTION
            ),
            dg.AssetCheckSpec(
                FORMS_IN_THEIR_DAYS,
                asset=form.instances_asset,
                description=IN_THEIR_DAYS_DESCRIPTION,
            ),
        ],
        description=(
            f"Approved ({spec.filters.instance_status}/{spec.filters.approved_result}) "
            f"{spec.source.form_name or spec.name} forms created on the run's days ({spec.title}):"
            " raw GetInstances payloads, one JSON Lines file per China calendar day of creation, "
            "kept whole so that the cleaned rows can be rebuilt without calling DingTalk again."
        ),
    )
    def instances(
        context: dg.AssetExecutionContext, yida: YidaResource, refund_database: FormDatabase
    ) -> Iterator[dg.Output[RawInstances] | dg.AssetCheckResult]:
        # A database that cannot be reached stops the run before it spends API calls (the
        # monthly quota is small); the error names host and port, never the password.
        try:
            refund_database.check()
        except DatabaseError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
        settings = yida.quota()
        start, end = context.partition_time_window
        stats = ScanStats()
        # What this scan says of a form is dated by when it began (the sync state's rule).
        scan_started = datetime.now(tz=timezone.utc)
        try:
            result = yida.scan(spec, start, end, stats=stats)
        except RetryableApiError:
            raise  # a flaky night: the step retry replays the scan later
        except DingTalkApiError as error:
            # Wrong credentials, a wrong address, a refused query, an exhausted monthly quota:
            # retrying cannot help.
            raise dg.Failure(description=str(error), allow_retries=False) from None
        finally:
            # Failed scans spend the quota too.
            month = count_calls(context.log, refund_database, form.instances_asset, stats)
        days, outside = split_by_day(result.instances, context.partition_keys, CHINA_TZ)
        misplaced = outside_window_rejects(outside, spec, run_days(context))
        _quarantine(refund_database, spec, misplaced, context.run_id)
        raw = RawInstances(days)
        counts = raw.counts()
        record_day_counts(context, counts)
        scan = result.stats.metadata(yida.qps)
        context.log.info(
            f"window {run_days(context)}: {result.stats.instances} instances in "
            f"{scan['api_calls']} API calls ({scan['api_retries']} retries, "
            f"{scan['api_throttles']} throttles) in {scan['api_seconds']} s"
        )
        metadata: dict[str, Any] = {
            "window": run_days(context),
            SCAN_STARTED: scan_started.isoformat(timespec="seconds"),
            "instances": sum(counts.values()),
            "instances_outside_window": len(outside),
            **scan,
            "api_retry_causes": dg.MetadataValue.json(scan["api_retry_causes"]),
            "instances_by_day": day_counts_table({"instances": counts}),
            **quota_metadata(month, settings),
        }
        yield dg.Output(raw, metadata=metadata)
        yield quota_check(month, settings)
        yield _in_their_days(misplaced, spec.target.rejects_table)

    return instances
