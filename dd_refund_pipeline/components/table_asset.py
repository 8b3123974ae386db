"""A form's finance table (``hc_dd_fktk``): upserted with the run's rows, and checked per day."""

import logging
import re
from collections.abc import Iterator
from datetime import datetime

import dagster as dg
import pandas as pd
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    # Public as AssetCheckEvaluation's field type, not exported on its own in 1.13.
    AssetCheckEvaluationTargetMaterializationData,
)
from sqlalchemy.engine import Engine

from dd_refund_pipeline.checks import check_names as checks
from dd_refund_pipeline.checks.day_checks import DayFacts, Verdict, day_verdicts
from dd_refund_pipeline.components.form_defs import FormDefs
from dd_refund_pipeline.components.freshness_sensor import freshness_policy
from dd_refund_pipeline.components.instances_asset import SCAN_STARTED
from dd_refund_pipeline.days.raw_instances import RawInstances
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.forms.spec import FormSpec
from dd_refund_pipeline.lib.resources import FormDatabase
from dd_refund_pipeline.lib.run_metadata import (
    day_counts_table,
    preview,
    record_day_counts,
    run_days,
)
from dd_refund_pipeline.load.loader import (
    DuplicateKeyError,
    LoadResult,
    SchemaMismatchError,
    check_connection,
    duplicate_keys,
    load_batches,
    safe_url,
    stored_rows,
    table_rows,
)
from dd_refund_pipeline.load.sync_state import GoneReport, SyncScope
from dd_refund_pipeline.readahead import read_ahead
from dd_refund_pipeline.settings import database_kind, yida_form_links
from dd_refund_pipeline.transform.window import FormFrames, WindowSummary

TargetData = AssetCheckEvaluationTargetMaterializationData


def column_schema(spec: FormSpec) -> dg.TableSchema:
    """The table's columns as its DDL declares them, with their Chinese labels."""
    labels = {column.name: column.label for column in spec.target.columns}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                column.sql_type,
                description=labels.get(name),
                constraints=dg.TableColumnConstraints(
                    nullable=column.nullable, unique=name == spec.target.key
                ),
            )
            for name, column in spec.target.table_columns.items()
        ]
    )


def check_specs(form: FormDefs) -> list[dg.AssetCheckSpec]:
    """The table's checks: the key once per run, the rest per day (partitioned).

    A per-day check keeps each day's verdict in the UI until a later evaluation of that day
    replaces it: a backfill of other days cannot hide it.
    """
    table, spec = form.table_asset, form.spec

    def per_day(name: str, description: str) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(
            name, asset=table, description=description, partitions_def=form.days
        )

    return [
        dg.AssetCheckSpec(
            spec.target.key_check_name,
            asset=table,
            description=f"No {form.key} is stored twice in the table (the whole table, every run).",
        ),
        per_day(
            checks.TABLE_COMPLETE,
            "For each day: rows in the table = unique instances the API returned − rejected "
            "records (ERROR). missing_rows: forms Yida returned that the table lacks; "
            "materialize the day again. rejected_but_stored: a form whose latest version is "
            "rejected while its last valid copy is still in the table (the sample names each "
            "form, its day and the reason); correct the form in Yida and the next run of its "
            "day replaces the row (README, 'When a check fails').",
        ),
        *(per_day(rule.check_name, rule.description) for rule in spec.target.rules),
        per_day(checks.NO_REJECTS, "No source record of the day was rejected (WARN)."),
        per_day(
            checks.NO_GONE_UPSTREAM,
            "No row of the day belongs to a form Yida no longer returns (deleted, withdrawn or "
            "edited out of the filter). With DD_REFUND_GONE_UPSTREAM=delete such rows are "
            "removed and listed here (WARN).",
        ),
    ]


class _PerDayChecksReported(logging.Filter):
    """Drops Dagster's note that the per-day checks were not yielded as outputs.

    They are reported as evaluations of their days (a range run has no single partition to
    yield them for), so the note, logged after every run, would say that checks which did run
    did not. Any other missing output still shows.
    """

    def __init__(self, form: FormDefs) -> None:
        super().__init__()
        self.reported = {
            check.get_python_identifier()
            for check in check_specs(form)
            if check.partitions_def is not None
        }

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the note when every output it names is a per-day check."""
        message = record.getMessage()
        if "did not yield or return expected outputs" not in message:
            return True
        named = set(re.findall(r"'([^']+)'", message.partition("expected outputs")[2]))
        return not named or not named <= self.reported


def _evaluation(
    form: FormDefs, verdict: Verdict, day: str, target: TargetData | None
) -> dg.AssetCheckEvaluation:
    table, source = form.table_asset, form.spec.source
    links = yida_form_links(source.app_type, source.form_uuid)
    samples = {name: preview(frame, links=links) for name, frame in verdict.samples.items()}
    return dg.AssetCheckEvaluation(
        # The day's materialization it judged: what makes the UI count it as that day's status.
        target_materialization_data=target,
        asset_key=dg.AssetKey(table),
        check_name=verdict.check,
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity(verdict.severity),
        description=f"{day}: {verdict.description}",
        metadata={"day": day, **verdict.counts, **samples},
        partition=day,
    )


def _materializations_of_run(
    context: dg.AssetExecutionContext, table: str
) -> dict[str, TargetData]:
    """This run's materialization of each of its days, as check evaluations reference them."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(table), asset_partitions=list(context.partition_keys)
        ),
        limit=4 * len(context.partition_keys),
    ).records
    found: dict[str, TargetData] = {}
    for record in records:  # newest first
        if record.run_id == context.run_id and record.partition_key not in found:
            found[str(record.partition_key)] = TargetData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            )
    return found


def _reported_gone(gone: GoneReport, run_id: str) -> pd.DataFrame:
    """The gone rows this run should name.

    Adopted ones (in the table before any sync) only by the run that found them; a flagged row of a
    form gone upstream by every run of its day.
    """
    rows = gone.rows
    if rows.empty:
        return rows
    return rows[(rows["adopted"] == 0) | (rows["first_seen_run"] == run_id)]


def _day_facts(
    day: str,
    key: str,
    raw: RawInstances,
    summary: WindowSummary,
    stored: pd.DataFrame,
    rejects: pd.DataFrame,
    gone: pd.DataFrame,
) -> DayFacts:
    of_day = stored[stored[key].isin(summary.day_keys.get(day, set()))]
    return DayFacts(
        day=day,
        api_keys=raw.keys(day),
        stored=of_day,
        rejects=rejects[rejects["partition_date"] == day] if len(rejects) else rejects,
        gone=gone[gone["partition_date"] == day] if len(gone) else gone,
    )


def _table_unique(spec: FormSpec, duplicates: pd.DataFrame) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=spec.target.key_check_name,
        passed=duplicates.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "offending": len(duplicates),
            "sample": preview(duplicates.head(checks.SAMPLE_SIZE)),
        },
    )


def _scan_of_this_run(context: dg.AssetExecutionContext, instances_asset: str) -> datetime | None:
    """When this run's own scan of Yida for its days began; None when it read stored files.

    Only a fresh scan, proven complete, can say that a form is gone: files from an earlier
    scan know nothing of forms loaded since. Its start dates what it says (the sync state's rule).
    """
    records = context.instance.get_records_for_run(
        context.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    scanned = dg.AssetKey(instances_asset)
    for record in records:
        materialization = record.event_log_entry.asset_materialization
        if materialization is not None and materialization.asset_key == scanned:
            started = materialization.metadata.get(SCAN_STARTED)
            if started is not None:
                return datetime.fromisoformat(str(started.value))
    return None


class _TableLoad:
    """One run's load of a form's table, and what the checks read back after it."""

    def __init__(self, spec: FormSpec, engine: Engine, run_id: str) -> None:
        self.spec, self.engine, self.run_id = spec, engine, run_id

    def run(
        self, frames: FormFrames, api_ids: set[str], scope: SyncScope, summary: WindowSummary
    ) -> tuple[LoadResult, pd.DataFrame, pd.DataFrame, str, int]:
        """Load the run's days, then read back the rows, duplicates, address and size."""
        spec, engine = self.spec, self.engine
        check_connection(engine)
        # A day at a time from the stored files (the next day read while this one is written),
        # all in one transaction.
        days = read_ahead(summary.watch(frames, spec.target.key))
        outcome = load_batches(engine, spec, days, run_id=self.run_id, scope=scope)
        # Every clean row comes from an API instance: reading the API's ids covers them all.
        stored = stored_rows(engine, spec, sorted(api_ids))
        duplicates = duplicate_keys(engine, spec)
        return outcome, stored, duplicates, safe_url(engine.url), table_rows(engine, spec)

    def guarded(
        self, frames: FormFrames, api_ids: set[str], scope: SyncScope, summary: WindowSummary
    ) -> tuple[LoadResult, pd.DataFrame, pd.DataFrame, str, int]:
        """``run``, with the failures no retry can mend turned into what to do instead."""
        try:
            return self.run(frames, api_ids, scope, summary)
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


def build_table_asset(form: FormDefs) -> dg.AssetsDefinition:
    """The finance table of ``form``: one row per processInstanceId, checked day by day."""
    spec, table, key = form.spec, form.table_asset, form.key
    description = (
        f"The finance team's table of {spec.title}: one row per processInstanceId. Upserted "
        "with the run's rows in one transaction (all land or none), created when missing, never "
        f"altered when it exists. Rejected records go to {spec.target.rejects_table} with the "
        "reason. Each day's checks are evaluated for that day."
    )

    @dg.multi_asset(
        name=table,
        specs=[
            dg.AssetSpec(
                table,
                group_name=form.group,
                # The database the table is in: SQLite in the demo, MySQL in production.
                kinds={database_kind()},
                owners=form.owners,
                deps=[form.rows_asset, form.instances_asset],
                metadata={
                    "dagster/table_name": spec.target.table,
                    "dagster/column_schema": column_schema(spec),
                },
                freshness_policy=freshness_policy(form),
                description=description,
            )
        ],
        ins={
            "rows": dg.AssetIn(form.rows_asset),
            "raw": dg.AssetIn(form.instances_asset),
        },
        partitions_def=form.days,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=check_specs(form),
        # The per-day checks are reported as evaluations of their days, not as step outputs.
        can_subset=True,
        retry_policy=dg.RetryPolicy(
            max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
        ),
    )
    def load_table(
        context: dg.AssetExecutionContext,
        rows: FormFrames,
        raw: RawInstances,
        refund_database: FormDatabase,
    ) -> Iterator[dg.MaterializeResult]:
        context.log.addFilter(_PerDayChecksReported(form))
        api_ids, _anonymous = raw.ids()
        policy = refund_database.gone_upstream
        scanned_at = _scan_of_this_run(context, form.instances_asset)
        returned = api_ids if scanned_at is not None else None
        scope = SyncScope(context.partition_keys, returned, policy, scanned_at)
        summary = WindowSummary()
        load = _TableLoad(spec, refund_database.engine(), context.run_id)
        outcome, stored, duplicates, where, total = load.guarded(rows, api_ids, scope, summary)
        record_day_counts(context, summary.rows)
        rate = outcome.rows / outcome.seconds if outcome.seconds else 0.0
        yield dg.MaterializeResult(
            asset_key=table,
            metadata={
                # The table's size, not a day's: the asset overview shows this as its row count.
                "dagster/row_count": total,
                "window": run_days(context),
                "database": where,
                **outcome.as_dict(),
                "rows": outcome.rows,
                "load_rows_per_s": round(rate),
                "rows_by_day": day_counts_table({"rows": summary.rows}),
                "preview": preview(summary.head(), spec.target.column_names),
            },
            check_results=[_table_unique(spec, duplicates)],
        )
        # After the materialization is stored, so that each day's verdict names the day's copy.
        targets = _materializations_of_run(context, table)
        rejects, gone = summary.rejects(), _reported_gone(outcome.gone, context.run_id)
        present, now = set(stored[key]), datetime.now(tz=CHINA_TZ)
        for day in context.partition_keys:
            facts = _day_facts(day, key, raw, summary, stored, rejects, gone)
            for verdict in day_verdicts(spec, facts, present, policy, now):
                context.log_event(_evaluation(form, verdict, day, targets.get(day)))

    return load_table
