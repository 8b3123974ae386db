"""The monthly API quota as Dagster sees it: the calls of each scan counted, and a WARN check."""

import logging

import dagster as dg
from sqlalchemy.exc import SQLAlchemyError

from dd_refund_pipeline.checks.check_names import API_QUOTA_HEADROOM
from dd_refund_pipeline.dingtalk.query import INSTANCES_ENDPOINT
from dd_refund_pipeline.dingtalk.scan_stats import ScanStats
from dd_refund_pipeline.lib.resources import FormDatabase
from dd_refund_pipeline.load.api_quota import MonthCount, QuotaSettings
from dd_refund_pipeline.load.loader import DatabaseError


def count_calls(
    log: logging.Logger | dg.DagsterLogManager,
    database: FormDatabase,
    caller: str,
    stats: ScanStats,
) -> MonthCount | None:
    """Add a scan's list calls to the month; None (and a warning) if the count cannot be kept."""
    try:
        return database.record_api_calls(caller, stats.calls[INSTANCES_ENDPOINT])
    except (DatabaseError, SQLAlchemyError) as error:
        log.warning(f"API call count not recorded: {type(error).__name__}: {error}")
        return None


def quota_metadata(month: MonthCount | None, settings: QuotaSettings) -> dict[str, object]:
    """The month's call count as a scan's metadata (or why it was not counted)."""
    if month is None:
        return {"api_quota": "not counted (the database could not record it)"}
    return {
        "api_quota": month.summary(settings),
        "api_calls_this_month": month.calls,
        "api_calls_projected_month": month.projected,
    }


def quota_check(month: MonthCount | None, settings: QuotaSettings) -> dg.AssetCheckResult:
    """WARN when the month's projected calls exceed our share of the organisation's quota."""
    if not settings.monthly_quota:
        return dg.AssetCheckResult(
            check_name=API_QUOTA_HEADROOM,
            passed=True,
            description="not watched (YIDA_MONTHLY_CALL_QUOTA=0)",
        )
    if month is None:
        return dg.AssetCheckResult(
            check_name=API_QUOTA_HEADROOM,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description="the month's API calls could not be counted: see the step's log",
        )
    over = month.over(settings)
    description = month.summary(settings)
    if over:
        description += (
            f": more than {settings.share_percent:g}% of the quota, which other integrations "
            f"share. Fewer backfills this month, a longer DD_REFUND_LATE_CHANGES_INTERVAL_HOURS, "
            f"or a larger quota (YIDA_MONTHLY_CALL_QUOTA) if the organisation bought one."
        )
    return dg.AssetCheckResult(
        check_name=API_QUOTA_HEADROOM,
        passed=not over,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "calls_this_month": month.calls,
            "projected_month": month.projected,
            "allowed_share": round(settings.allowed),
            "monthly_quota": settings.monthly_quota,
            "by_caller": dg.MetadataValue.json(month.by_caller),
        },
    )
