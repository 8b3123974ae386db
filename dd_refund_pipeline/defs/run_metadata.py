"""Metadata every asset of a range run shows: per-day counts, windows, previews.

Dagster copies a range run's output metadata onto every day's materialization, so a window
total would appear as each day's row count. Per-day ``dagster/row_count`` goes through
``add_asset_metadata(partition_key=…)`` instead, and the window total under its own name.
"""

from collections.abc import Mapping

import dagster as dg
import pandas as pd

from dd_refund_pipeline.defs.partitions import window_label
from dd_refund_pipeline.refunds.window import PREVIEW_ROWS


def run_days(context: dg.AssetExecutionContext) -> str:
    """The run's days as they read everywhere: ``A...B``, or one day."""
    keys = context.partition_key_range
    return window_label(keys.start, keys.end)


def record_day_counts(context: dg.AssetExecutionContext, counts: Mapping[str, int]) -> None:
    """``dagster/row_count`` of each day of the run, on that day's materialization."""
    for key in context.partition_keys:
        context.add_asset_metadata(
            {"dagster/row_count": int(counts.get(key, 0))}, partition_key=key
        )


def day_counts_table(columns: Mapping[str, Mapping[str, int]]) -> dg.MetadataValue:
    """A markdown table with one row per day and one column per count."""
    frame = pd.DataFrame(columns).fillna(0).astype(int).rename_axis("day").reset_index()
    if frame.empty:
        return dg.MetadataValue.md("_no days_")
    return dg.MetadataValue.md(frame.to_markdown(index=False, disable_numparse=True))


def preview(frame: pd.DataFrame, columns: list[str] | None = None) -> dg.MetadataValue:
    """The first rows of ``frame`` as a markdown table, every value as the text it is."""
    shown = frame[columns] if columns else frame
    if shown.empty:
        return dg.MetadataValue.md("_no rows_")
    # Numbers stay the text they are: tabulate would re-parse them as floats and print 6
    # significant digits (17832.68 as 17832.7), and money must read exactly as stored.
    table = shown.head(PREVIEW_ROWS).astype(str).to_markdown(index=False, disable_numparse=True)
    return dg.MetadataValue.md(table)
