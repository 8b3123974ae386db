"""A form's cleaned rows (``refund_payments``): the table's rows of the run's days, and rejects."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from dd_refund_pipeline.checks.check_names import INSTANCE_IDS_UNIQUE, SAMPLE_SIZE
from dd_refund_pipeline.components.form_defs import FormDefs
from dd_refund_pipeline.days.raw_instances import RawInstances
from dd_refund_pipeline.lib.resources import FormDatabase
from dd_refund_pipeline.lib.run_metadata import (
    day_counts_table,
    preview,
    record_day_counts,
    run_days,
)
from dd_refund_pipeline.load.loader import DatabaseError
from dd_refund_pipeline.settings import yida_form_links
from dd_refund_pipeline.transform.window import CHECKED_LINEAGE, FormFrames, transform_window


def _unique_ids_check(clean: pd.DataFrame, key: str) -> dg.AssetCheckResult:
    repeated = clean[clean[key].duplicated(keep=False)]
    ids = repeated[key].drop_duplicates()
    return dg.AssetCheckResult(
        check_name=INSTANCE_IDS_UNIQUE,
        passed=ids.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "duplicated_ids": len(ids),
            "rows_involved": len(repeated),
            "sample": preview(
                repeated.sort_values(key).head(SAMPLE_SIZE),
                [key, *CHECKED_LINEAGE],
            ),
        },
    )


def _describe(form: FormDefs) -> str:
    columns = ", ".join(
        f"``{c.name}`` = {c.value}" for c in form.spec.target.columns if c.name != form.key
    )
    return (
        f"The rows {form.table_asset} will hold for the run's days, mapped as the form spec "
        f"{form.spec.name} says ({columns}); one Parquet file per day, and beside it the day's "
        "rejected records with the field and the reason."
    )


def build_rows_asset(form: FormDefs) -> dg.AssetsDefinition:
    """The cleaned rows of ``form``, read from its raw asset's stored days."""
    spec, key = form.spec, form.key

    @dg.asset(
        name=form.rows_asset,
        group_name=form.group,
        partitions_def=form.days,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key="refund_storage",
        owners=form.owners,
        kinds={"pandas", "parquet"},
        ins={"raw": dg.AssetIn(form.instances_asset)},
        check_specs=[
            dg.AssetCheckSpec(
                INSTANCE_IDS_UNIQUE,
                asset=form.rows_asset,
                blocking=True,
                description="Each processInstanceId appears once in the window; a failure stops "
                f"the load into {form.table_asset}.",
            )
        ],
        description=_describe(form),
    )
    def rows(
        context: dg.AssetExecutionContext, raw: RawInstances, refund_database: FormDatabase
    ) -> Iterator[dg.Output[FormFrames] | dg.AssetCheckResult]:
        # Amounts are checked against the column they go to (an adopted table may hold 4 places).
        try:
            fitted = refund_database.fitted(spec)
        except DatabaseError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
        # Each day is encoded as its batch finishes: the window's frames are never all held.
        window = transform_window(raw, fitted)
        summary = window.summary
        rejects = summary.rejects()
        record_day_counts(context, summary.rows)
        yield dg.Output(
            window.frames,
            metadata={
                "window": run_days(context),
                "rows": summary.total_rows,
                "rejected_records": summary.rejected_records(),
                "duplicates_merged": window.duplicates,
                "rows_by_day": day_counts_table(
                    {"rows": summary.rows, "rejected": summary.rejected_by_day()}
                ),
                "preview": preview(summary.head(), spec.target.column_names),
                "rejects_preview": preview(
                    rejects,
                    ["process_instance_id", "field", "reason"],
                    links=yida_form_links(spec.source.app_type, spec.source.form_uuid),
                ),
            },
        )
        yield _unique_ids_check(window.checked, key)

    return rows
