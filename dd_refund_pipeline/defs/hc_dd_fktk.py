"""Asset ``hc_dd_fktk``: the finance table, upserted with the run's rows, and checked after."""

import re
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
from sqlalchemy.engine import Engine

from dd_refund_pipeline.defs import check_names as checks
from dd_refund_pipeline.defs.form import FORM_SPEC
from dd_refund_pipeline.defs.freshness import hc_dd_fktk_freshness_policy
from dd_refund_pipeline.defs.partitions import refund_days
from dd_refund_pipeline.defs.resources import RefundDatabase
from dd_refund_pipeline.defs.run_metadata import (
    GROUP,
    day_counts_table,
    preview,
    record_day_counts,
    window_label,
)
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.readahead import read_ahead
from dd_refund_pipeline.refunds.batches import RawInstances, RefundFrames, WindowSummary
from dd_refund_pipeline.refunds.loader import (
    DuplicateKeyError,
    LoadResult,
    SchemaMismatchError,
    check_connection,
    duplicate_keys,
    load_refund_batches,
    safe_url,
    stored_rows,
)
from dd_refund_pipeline.refunds.sync_state import GoneReport, SyncScope
from dd_refund_pipeline.refunds.transform import EARLIEST_DATE

TARGET = FORM_SPEC.target
KEY = TARGET.key
ASSET = "hc_dd_fktk"


def _column_schema() -> dg.TableSchema:
    """The table's columns as its DDL declares them, with their Chinese labels."""
    labels = {column.name: column.label for column in TARGET.columns}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                column.sql_type,
                description=labels.get(name),
                constraints=dg.TableColumnConstraints(nullable=column.nullable, unique=name == KEY),
            )
            for name, column in TARGET.table_columns.items()
        ]
    )


def _spec(name: str, description: str, severity_hint: str = "") -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=ASSET, description=f"{description}{severity_hint}")


CHECK_SPECS = [
    _spec(checks.TABLE_KEYS_UNIQUE, "No processInstanceId is stored twice in the table."),
    _spec(
        checks.TABLE_COMPLETE,
        "For the run's days: rows in the table = unique instances the "
        "API returned − rejected records.",
    ),
    _spec(checks.AMOUNTS_POSITIVE, "Stored sales_count of the run's rows is > 0.", " (WARN)"),
    _spec(checks.ORDER_NUMBERS_SHAPED, "Stored order_no_new is the serial plus (FKTK).", " (WARN)"),
    _spec(
        checks.TIMES_SANE, "Stored datetime_new lies between 2000-01-01 and tomorrow.", " (WARN)"
    ),
    _spec(checks.NO_REJECTS, "No source record of the run's days was rejected.", " (WARN)"),
    _spec(
        checks.NO_GONE_UPSTREAM,
        "No row of the run's days belongs to a form Yida no longer returns (deleted, withdrawn "
        "or edited out of the filter). With DD_REFUND_GONE_UPSTREAM=delete such rows are removed "
        "and listed here.",
        " (WARN)",
    ),
]


def _result(
    name: str, offenders: pd.DataFrame, severity: dg.AssetCheckSeverity, **metadata: Any
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=offenders.empty,
        severity=severity,
        metadata={
            "offending": len(offenders),
            "sample": preview(offenders.head(checks.SAMPLE_SIZE)),
            **metadata,
        },
    )


def _validity_checks(stored: pd.DataFrame) -> list[dg.AssetCheckResult]:
    warn = dg.AssetCheckSeverity.WARN
    pattern = TARGET.column("order_no_new").pattern or ".*"
    tomorrow = datetime.now(tz=CHINA_TZ).replace(tzinfo=None) + timedelta(days=1)
    earliest = EARLIEST_DATE.replace(tzinfo=None)
    shaped = stored["order_no_new"].map(lambda v: bool(re.match(pattern, str(v))))
    times = stored["datetime_new"]
    return [
        _result(
            checks.AMOUNTS_POSITIVE, stored[stored["sales_count"] <= 0], warn, checked=len(stored)
        ),
        _result(
            checks.ORDER_NUMBERS_SHAPED, stored[~shaped], warn, checked=len(stored), pattern=pattern
        ),
        _result(
            checks.TIMES_SANE,
            stored[(times < earliest) | (times > tomorrow)],
            warn,
            checked=len(stored),
        ),
    ]


def _completeness(
    api_ids: set[str], anonymous: int, rejects: pd.DataFrame, stored: pd.DataFrame
) -> dg.AssetCheckResult:
    rejected = {str(k) for k in rejects["process_instance_id"].dropna()} & api_ids
    expected = api_ids - rejected
    present = set(stored[KEY])
    missing = sorted(expected - present)
    unexpected = sorted((present & api_ids) - expected)
    return dg.AssetCheckResult(
        check_name=checks.TABLE_COMPLETE,
        passed=not missing and not unexpected,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "unique_api_instances": len(api_ids),
            "instances_without_id": anonymous,
            "rejected_instances": len(rejected),
            "expected_rows": len(expected),
            "rows_in_table": len(present & api_ids),
            "missing_rows": len(missing),
            "missing_sample": ", ".join(missing[: checks.SAMPLE_SIZE]) or "-",
            # A record rejected now whose earlier, valid version is still in the table.
            "rejected_but_stored": len(unexpected),
            "rejected_but_stored_sample": ", ".join(unexpected[: checks.SAMPLE_SIZE]) or "-",
        },
    )


# What a reviewer needs to find a rejected form in Yida, even one without a usable id.
REJECT_SHOWN = [
    "partition_date",
    "serial_number",
    "title",
    "originator",
    "created_at",
    "process_instance_id",
    "record_key",
    "field",
    "reason",
    "raw_value",
]


def _rejects_check(rejects: pd.DataFrame) -> dg.AssetCheckResult:
    return _result(
        checks.NO_REJECTS,
        # Day files written before these columns existed lack them: shown empty, not an error.
        rejects.reindex(columns=REJECT_SHOWN).astype(object).fillna(""),
        dg.AssetCheckSeverity.WARN,
        rejected_records=int(rejects["record_key"].nunique()) if len(rejects) else 0,
    )


GONE_SHOWN = ["process_instance_id", "partition_date", "order_no_new", "sales_count", "gone_since"]


def _gone_check(gone: GoneReport, policy: str, run_id: str) -> dg.AssetCheckResult:
    """Rows of the run's days whose forms Yida no longer returns: named (flag) or removed."""
    removed = remaining = pd.DataFrame(columns=GONE_SHOWN)
    if not gone.rows.empty:
        rows = gone.rows
        # Adopted rows (in the table before any sync) are reported by the run that found them;
        # a flagged row of a form gone upstream is named by every run of its day.
        reported = rows[(rows["adopted"] == 0) | (rows["first_seen_run"] == run_id)]
        removed = reported[reported["removed"]]
        remaining = reported[reported["row_key"].notna() & ~reported["removed"]]
    return dg.AssetCheckResult(
        check_name=checks.NO_GONE_UPSTREAM,
        passed=remaining.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "policy": policy,
            "gone_upstream_rows": len(remaining),
            "newly_gone": gone.newly_gone,
            "came_back": gone.came_back,
            "removed": gone.removed,
            "adopted_not_returned": gone.adopted,
            "sample": preview(remaining.head(checks.SAMPLE_SIZE), GONE_SHOWN),
            "removed_sample": preview(removed.head(checks.SAMPLE_SIZE), GONE_SHOWN),
        },
    )


def _load(
    context: dg.AssetExecutionContext,
    engine: Engine,
    frames: RefundFrames,
    api_ids: set[str],
    scope: SyncScope,
    summary: WindowSummary,
) -> tuple[LoadResult, pd.DataFrame, pd.DataFrame, str]:
    """Load the run's days, then read back what the checks look at."""
    check_connection(engine)
    # A day at a time from the stored files (the next day read while this one is written), all
    # in one transaction.
    days = read_ahead(summary.watch(frames, KEY))
    outcome = load_refund_batches(engine, FORM_SPEC, days, run_id=context.run_id, scope=scope)
    # Every clean row comes from an API instance: reading the API's ids covers them all.
    stored = stored_rows(engine, FORM_SPEC, sorted(api_ids))
    return outcome, stored, duplicate_keys(engine, FORM_SPEC), safe_url(engine.url)


def _scanned_in_this_run(context: dg.AssetExecutionContext) -> bool:
    """Whether this run read Yida for its days itself (not older stored files).

    Only a fresh scan, proven complete, can say that a form is gone: files from an earlier
    scan know nothing of forms loaded since.
    """
    records = context.instance.get_records_for_run(
        context.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    scanned = dg.AssetKey("yida_refund_instances")
    return any(
        record.event_log_entry.dagster_event is not None
        and record.event_log_entry.dagster_event.asset_key == scanned
        for record in records
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=refund_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"mysql"},
    metadata={"dagster/table_name": TARGET.table, "dagster/column_schema": _column_schema()},
    check_specs=CHECK_SPECS,
    freshness_policy=hc_dd_fktk_freshness_policy,
    retry_policy=dg.RetryPolicy(
        max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
)
def hc_dd_fktk(
    context: dg.AssetExecutionContext,
    refund_payments: RefundFrames,
    yida_refund_instances: RawInstances,
    refund_database: RefundDatabase,
) -> dg.MaterializeResult:
    """The finance team's table of approved 付款退款 refunds: one row per processInstanceId.

    Upserted with the run's rows in one transaction (all land or none), created when missing,
    never altered when it exists. Rejected records go to ``hc_dd_fktk_rejects`` with the reason.
    """
    frames = refund_payments
    api_ids, anonymous = yida_refund_instances.ids()
    policy = refund_database.gone_upstream
    scope = SyncScope(
        context.partition_keys, api_ids if _scanned_in_this_run(context) else None, policy
    )
    summary = WindowSummary()
    engine = refund_database.engine()
    try:
        outcome, stored, duplicates, where = _load(context, engine, frames, api_ids, scope, summary)
    except SchemaMismatchError as error:
        # The table is the team's: no retry changes it.
        raise dg.Failure(
            description=f"{error}. Run `make adopt` for the whole comparison and plan.",
            allow_retries=False,
        ) from None
    except DuplicateKeyError as error:
        raise dg.Failure(
            description=f"{error} across the run's days (stored files of different scans?): "
            f"materialize all three assets for the range, which scans it once.",
            allow_retries=False,
        ) from None
    finally:
        engine.dispose()
    record_day_counts(context, summary.rows)
    rejects = summary.rejects()
    rate = outcome.rows / outcome.seconds if outcome.seconds else 0.0
    in_window = stored[stored[KEY].isin(summary.keys)]
    return dg.MaterializeResult(
        metadata={
            "window": window_label(context),
            "database": where,
            **outcome.as_dict(),
            "rows": outcome.rows,
            "load_rows_per_s": round(rate),
            "rows_by_day": day_counts_table({"rows": summary.rows}),
            "preview": preview(summary.head(), TARGET.column_names),
        },
        check_results=[
            _result(checks.TABLE_KEYS_UNIQUE, duplicates, dg.AssetCheckSeverity.ERROR),
            _completeness(api_ids, anonymous, rejects, stored),
            *_validity_checks(in_window),
            _rejects_check(rejects),
            _gone_check(outcome.gone, policy, context.run_id),
        ],
    )
