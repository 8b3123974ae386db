"""Asset ``yida_refund_instances``: the approved refund forms Yida holds for the run's days."""

import math
from collections.abc import Iterator

import dagster as dg

from dd_refund_pipeline.defs.api_quota import (
    count_calls,
    quota_check,
    quota_metadata,
    quota_settings,
)
from dd_refund_pipeline.defs.check_names import API_QUOTA_HEADROOM
from dd_refund_pipeline.defs.form import FORM_SPEC
from dd_refund_pipeline.defs.partitions import refund_days
from dd_refund_pipeline.defs.resources import RefundDatabase, YidaResource
from dd_refund_pipeline.defs.run_metadata import (
    GROUP,
    day_counts_table,
    record_day_counts,
    window_label,
)
from dd_refund_pipeline.dingtalk.errors import DingTalkApiError, RetryableApiError
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.dingtalk.yida import ScanStats
from dd_refund_pipeline.refunds.batches import RawInstances, split_by_day
from dd_refund_pipeline.refunds.loader import DatabaseError


@dg.asset(
    group_name=GROUP,
    partitions_def=refund_days,
    # One run, one scan for any range: a backfill of a year costs the API what a year of pages
    # costs, not 365 scans (the monthly call quota is small).
    backfill_policy=dg.BackfillPolicy.single_run(),
    # Runs that overlap (a backfill during the schedule) take turns at the API's QPS limit.
    pool="yida_api",
    io_manager_key="refund_storage",
    kinds={"dingtalk", "json"},
    retry_policy=dg.RetryPolicy(
        max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
    check_specs=[
        dg.AssetCheckSpec(
            API_QUOTA_HEADROOM,
            asset="yida_refund_instances",
            description=(
                "This month's list calls (China time, all runs and sensors), projected to the "
                "month's end, stay within our share of the organisation's DingTalk quota "
                "(YIDA_MONTHLY_CALL_QUOTA × YIDA_QUOTA_SHARE_PERCENT, 5,000 × 70% by default). "
                "WARN."
            ),
        )
    ],
)
def yida_refund_instances(
    context: dg.AssetExecutionContext, yida: YidaResource, refund_database: RefundDatabase
) -> Iterator[dg.Output[RawInstances] | dg.AssetCheckResult]:
    """Approved (``COMPLETED``/``agree``) 借款核销 refund forms created on the run's days.

    Raw ``GetInstances`` payloads, one JSON Lines file per China calendar day of creation, kept
    whole so that the cleaned rows can be rebuilt without calling DingTalk again. One scan of
    the whole window, with the filters of the form spec.
    """
    # A database that cannot be reached stops the run before it spends API calls (the monthly
    # quota is small); the error names host and port, never the password.
    try:
        refund_database.check()
    except DatabaseError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    settings = quota_settings()
    start, end = context.partition_time_window
    stats = ScanStats()
    try:
        result = yida.scan(FORM_SPEC, start, end, stats=stats)
    except RetryableApiError:
        raise  # a flaky night: the step retry replays the scan later
    except DingTalkApiError as error:
        # Wrong credentials, a wrong address, a refused query, an exhausted monthly quota:
        # retrying cannot help.
        raise dg.Failure(description=str(error), allow_retries=False) from None
    finally:
        # Failed scans spend the quota too.
        month = count_calls(context.log, refund_database, context.asset_key.path[-1], stats)
    raw, outside = split_by_day(result.instances, context.partition_keys, CHINA_TZ)
    counts = raw.counts()
    minimum_calls = math.ceil(len(result.instances) / 100) + 1
    floor_s = (minimum_calls - 1) / yida.qps
    record_day_counts(context, counts)
    stats = result.stats.as_dict()
    context.log.info(
        f"window {window_label(context)}: {stats['instances']} instances in "
        f"{stats['api_calls']} API calls ({stats['retries']} retries, "
        f"{stats['throttles']} throttles) in {stats['elapsed_s']} s"
    )
    metadata = {
        "window": window_label(context),
        "instances": sum(counts.values()),
        "instances_outside_window": outside,
        "api_calls": stats["api_calls"],
        "api_list_calls": stats["list_calls"],
        "api_token_calls": stats["token_calls"],
        "api_pages": stats["pages"],
        "api_retries": stats["retries"],
        "api_throttles": stats["throttles"],
        "api_retry_causes": dg.MetadataValue.json(stats["retry_causes"]),
        "api_token_refreshes": stats["token_refreshes"],
        "api_window_splits": stats["window_splits"],
        "api_window_parts": stats["parts"],
        "api_drift_repairs": stats["drift_repairs"],
        "api_repair_calls": stats["repair_calls"],
        # Forms read during the scan that had left the result set by its end (dropped).
        "api_departed": stats["departed"],
        "api_seconds": stats["elapsed_s"],
        # The floor: one token call and one call per 100 instances, at the QPS limit.
        "api_minimum_calls": minimum_calls,
        "api_calls_over_minimum": round(stats["api_calls"] / minimum_calls, 2),
        "api_seconds_over_floor": round(stats["elapsed_s"] / max(floor_s, 0.001), 2),
        "instances_by_day": day_counts_table({"instances": counts}),
        **quota_metadata(month, settings),
    }
    yield dg.Output(raw, metadata=metadata)
    yield quota_check(month, settings)
