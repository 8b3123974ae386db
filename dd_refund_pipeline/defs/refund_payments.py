"""Asset ``refund_payments``: the cleaned refund rows of the run's days, and what was rejected."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from dd_refund_pipeline.defs.check_names import INSTANCE_IDS_UNIQUE, SAMPLE_SIZE
from dd_refund_pipeline.defs.form import FORM_SPEC
from dd_refund_pipeline.defs.partitions import refund_days
from dd_refund_pipeline.defs.resources import RefundDatabase
from dd_refund_pipeline.defs.run_metadata import (
    GROUP,
    day_counts_table,
    preview,
    record_day_counts,
    window_label,
)
from dd_refund_pipeline.refunds.batches import (
    RawInstances,
    RefundFrames,
    WindowSummary,
    transform_window,
)
from dd_refund_pipeline.refunds.loader import DatabaseError

KEY = FORM_SPEC.target.key


def _unique_ids_check(clean: pd.DataFrame) -> dg.AssetCheckResult:
    repeated = clean[clean[KEY].duplicated(keep=False)]
    ids = repeated[KEY].drop_duplicates()
    return dg.AssetCheckResult(
        check_name=INSTANCE_IDS_UNIQUE,
        passed=ids.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "duplicated_ids": len(ids),
            "rows_involved": len(repeated),
            "sample": preview(
                repeated.sort_values(KEY).head(SAMPLE_SIZE),
                [KEY, "partition_date", "source_version"],
            ),
        },
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=refund_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="refund_storage",
    kinds={"pandas", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(
            INSTANCE_IDS_UNIQUE,
            asset="refund_payments",
            blocking=True,
            description="Each processInstanceId appears once in the window; a failure stops the "
            "load into hc_dd_fktk.",
        )
    ],
)
def refund_payments(
    context: dg.AssetExecutionContext,
    yida_refund_instances: RawInstances,
    refund_database: RefundDatabase,
) -> Iterator[dg.Output[RefundFrames] | dg.AssetCheckResult]:
    """The rows ``hc_dd_fktk`` will hold for the run's days, mapped as the form spec says.

    ``datetime_new`` from the form date, ``order_no_new`` = serial + ``(FKTK)``, exact
    ``sales_count``, ``qty_count`` 1, ``Document_Type`` 付款退款; one Parquet file per day, and
    beside it the day's rejected records with the field and the reason.
    """
    # Amounts are checked against the column they go to (an adopted table may hold 4 places).
    try:
        spec = refund_database.fitted(FORM_SPEC)
    except DatabaseError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    frames, duplicates = transform_window(yida_refund_instances, spec)
    summary = WindowSummary().read(frames, KEY)
    rejects = summary.rejects()
    rejected = (
        rejects.groupby("partition_date")["record_key"].nunique().to_dict() if len(rejects) else {}
    )
    record_day_counts(context, summary.rows)
    yield dg.Output(
        frames,
        metadata={
            "window": window_label(context),
            "rows": summary.total_rows,
            "rejected_records": int(rejects["record_key"].nunique()) if len(rejects) else 0,
            "duplicates_merged": duplicates,
            "rows_by_day": day_counts_table({"rows": summary.rows, "rejected": rejected}),
            "preview": preview(summary.head(), FORM_SPEC.target.column_names),
            "rejects_preview": preview(rejects, ["process_instance_id", "field", "reason"]),
        },
    )
    yield _unique_ids_check(frames.clean_columns([KEY, "partition_date", "source_version"]))
