"""Asset ``hc_dd_fktk``: the finance table, upserted with the run's rows, and checked after."""

from collections.abc import Iterator
from datetime import datetime

import dagster as dg
import pandas as pd
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    # Public as AssetCheckEvaluation's field type, not exported on its own in 1.13.
    AssetCheckEvaluationTargetMaterializationData,
)
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
    window_label,
)
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.readahead import read_ahead
from dd_refund_pipeline.refunds.batches import RawInstances, RefundFrames, WindowSummary
from dd_refund_pipeline.refunds.day_checks import DayFacts, Verdict, day_verdicts
from dd_refund_pipeline.refunds.loader import (
    DuplicateKeyError,
    LoadResult,
    SchemaMismatchError,
    check_connection,
    duplicate_keys,
    load_refund_batches,
    safe_url,
    stored_rows,
    table_rows,
)
from dd_refund_pipeline.refunds.sync_state import GoneReport, SyncScope

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


def _spec(name: str, description: str, per_day: bool = True) -> dg.AssetCheckSpec:
    # Checks of a day's rows are partitioned: the UI keeps each day's verdict until a later
    # evaluation of that day replaces it (a backfill of other days cannot hide it).
    return dg.AssetCheckSpec(
        name,
        asset=ASSET,
        description=description,
        partitions_def=refund_days if per_day else None,
    )


CHECK_SPECS = [
    _spec(
        checks.TABLE_KEYS_UNIQUE,
        "No processInstanceId is stored twice in the table (the whole table, every run).",
        per_day=False,
    ),
    _spec(
        checks.TABLE_COMPLETE,
        "For each day: rows in the table = unique instances the API returned − rejected records.",
    ),
    _spec(checks.AMOUNTS_POSITIVE, "Stored sales_count of the day's rows is > 0 (WARN)."),
    _spec(checks.ORDER_NUMBERS_SHAPED, "Stored order_no_new is the serial plus (FKTK) (WARN)."),
    _spec(checks.TIMES_SANE, "Stored datetime_new lies between 2000-01-01 and tomorrow (WARN)."),
    _spec(checks.NO_REJECTS, "No source record of the day was rejected (WARN)."),
    _spec(
        checks.NO_GONE_UPSTREAM,
        "No row of the day belongs to a form Yida no longer returns (deleted, withdrawn or "
        "edited out of the filter). With DD_REFUND_GONE_UPSTREAM=delete such rows are removed "
        "and listed here (WARN).",
    ),
]


def _evaluation(
    verdict: Verdict, day: str, target: AssetCheckEvaluationTargetMaterializationData | None
) -> dg.AssetCheckEvaluation:
    samples = {name: preview(frame) for name, frame in verdict.samples.items()}
    return dg.AssetCheckEvaluation(
        # The day's materialization it judged: what makes the UI count it as that day's status.
        target_materialization_data=target,
        asset_key=dg.AssetKey(ASSET),
        check_name=verdict.check,
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity(verdict.severity),
        description=f"{day}: {verdict.description}",
        metadata={"day": day, **verdict.counts, **samples},
        partition=day,
    )


def _materializations_of_run(
    context: dg.AssetExecutionContext,
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """This run's materialization of each of its days, as check evaluations reference them."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(ASSET), asset_partitions=list(context.partition_keys)
        ),
        limit=4 * len(context.partition_keys),
    ).records
    found: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    for record in records:  # newest first
        if record.run_id == context.run_id and record.partition_key not in found:
            found[str(record.partition_key)] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            )
    return found


def _reported_gone(gone: GoneReport, run_id: str) -> pd.DataFrame:
    """Rows to name: adopted ones (in the table before any sync) only by the run that found
    them; a flagged row of a form gone upstream by every run of its day."""
    rows = gone.rows
    if rows.empty:
        return rows
    return rows[(rows["adopted"] == 0) | (rows["first_seen_run"] == run_id)]


def _day_facts(
    day: str,
    raw: RawInstances,
    summary: WindowSummary,
    stored: pd.DataFrame,
    rejects: pd.DataFrame,
    gone: pd.DataFrame,
) -> DayFacts:
    of_day = stored[stored[KEY].isin(summary.day_keys.get(day, set()))]
    return DayFacts(
        day=day,
        api_keys=raw.keys(day),
        stored=of_day,
        rejects=rejects[rejects["partition_date"] == day] if len(rejects) else rejects,
        gone=gone[gone["partition_date"] == day] if len(gone) else gone,
    )


def _table_unique(duplicates: pd.DataFrame) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=checks.TABLE_KEYS_UNIQUE,
        passed=duplicates.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "offending": len(duplicates),
            "sample": preview(duplicates.head(checks.SAMPLE_SIZE)),
        },
    )


def _load(
    context: dg.AssetExecutionContext,
    engine: Engine,
    frames: RefundFrames,
    api_ids: set[str],
    scope: SyncScope,
    summary: WindowSummary,
) -> tuple[LoadResult, pd.DataFrame, pd.DataFrame, str, int]:
    """Load the run's days, then read back what the checks look at."""
    check_connection(engine)
    # A day at a time from the stored files (the next day read while this one is written), all
    # in one transaction.
    days = read_ahead(summary.watch(frames, KEY))
    outcome = load_refund_batches(engine, FORM_SPEC, days, run_id=context.run_id, scope=scope)
    # Every clean row comes from an API instance: reading the API's ids covers them all.
    stored = stored_rows(engine, FORM_SPEC, sorted(api_ids))
    duplicates = duplicate_keys(engine, FORM_SPEC)
    return outcome, stored, duplicates, safe_url(engine.url), table_rows(engine, FORM_SPEC)


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


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ASSET,
            group_name=GROUP,
            kinds={"mysql"},
            deps=["refund_payments", "yida_refund_instances"],
            metadata={
                "dagster/table_name": TARGET.table,
                "dagster/column_schema": _column_schema(),
            },
            freshness_policy=hc_dd_fktk_freshness_policy,
            description="The finance team's table of approved 付款退款 refunds: one row per "
            "processInstanceId.",
        )
    ],
    partitions_def=refund_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=CHECK_SPECS,
    # The per-day checks are reported as evaluations of their days, not as step outputs.
    can_subset=True,
    retry_policy=dg.RetryPolicy(
        max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
)
def hc_dd_fktk(
    context: dg.AssetExecutionContext,
    refund_payments: RefundFrames,
    yida_refund_instances: RawInstances,
    refund_database: RefundDatabase,
) -> Iterator[dg.MaterializeResult]:
    """The finance team's table of approved 付款退款 refunds: one row per processInstanceId.

    Upserted with the run's rows in one transaction (all land or none), created when missing,
    never altered when it exists. Rejected records go to ``hc_dd_fktk_rejects`` with the reason.
    Each day's checks are evaluated for that day.
    """
    frames = refund_payments
    api_ids, _anonymous = yida_refund_instances.ids()
    policy = refund_database.gone_upstream
    scope = SyncScope(
        context.partition_keys, api_ids if _scanned_in_this_run(context) else None, policy
    )
    summary = WindowSummary()
    engine = refund_database.engine()
    try:
        outcome, stored, duplicates, where, total = _load(
            context, engine, frames, api_ids, scope, summary
        )
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
    for day, rows in summary.rows.items():
        context.add_asset_metadata({"rows_of_day": rows}, partition_key=day)
    rate = outcome.rows / outcome.seconds if outcome.seconds else 0.0
    yield dg.MaterializeResult(
        asset_key=ASSET,
        metadata={
            # The table's size, not a day's: the asset overview shows this as its row count.
            "dagster/row_count": total,
            "window": window_label(context),
            "database": where,
            **outcome.as_dict(),
            "rows": outcome.rows,
            "load_rows_per_s": round(rate),
            "rows_by_day": day_counts_table({"rows": summary.rows}),
            "preview": preview(summary.head(), TARGET.column_names),
        },
        check_results=[_table_unique(duplicates)],
    )
    # After the materialization is stored, so that each day's verdict names the day's copy.
    targets = _materializations_of_run(context)
    rejects, gone = summary.rejects(), _reported_gone(outcome.gone, context.run_id)
    present, now = set(stored[KEY]), datetime.now(tz=CHINA_TZ)
    for day in context.partition_keys:
        facts = _day_facts(day, yida_refund_instances, summary, stored, rejects, gone)
        for verdict in day_verdicts(FORM_SPEC, facts, present, policy, now):
            context.log_event(_evaluation(verdict, day, targets.get(day)))
