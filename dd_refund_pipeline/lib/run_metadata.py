"""Metadata every asset of a range run shows: per-day counts, windows, previews.

Dagster copies a range run's output metadata onto every day's materialization, so a window
total would appear as each day's count. A day's rows (``rows_of_day``) go through
``add_asset_metadata(partition_key=…)`` instead. ``dagster/row_count``, the overview's
"Row count", means one thing on every asset: all it holds (every stored day; the whole table).
"""

from collections.abc import Callable, Mapping

import dagster as dg
import pandas as pd

from dd_refund_pipeline.lib.partitions import window_label
from dd_refund_pipeline.transform.window import PREVIEW_ROWS

# The longest value a sample's cell shows whole: a 506-character serial must not push every
# other column off the check's page.
MAX_SHOWN_CHARS = 40
# A reject's reason is what a person acts on: shown whole up to its column's bound.
MAX_REASON_CHARS = 255
# A day's rows, on each day's materialization; ``dagster/row_count`` is what the asset holds.
ROWS_OF_DAY = "rows_of_day"
_CONTROL_CODES = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]}


def run_days(context: dg.AssetExecutionContext) -> str:
    """The run's days as they read everywhere: ``A...B``, or one day."""
    keys = context.partition_key_range
    return window_label(keys.start, keys.end)


def record_day_counts(context: dg.AssetExecutionContext, counts: Mapping[str, int]) -> None:
    """``rows_of_day``: each day's rows, on that day's materialization (every asset alike)."""
    for key in context.partition_keys:
        context.add_asset_metadata({ROWS_OF_DAY: int(counts.get(key, 0))}, partition_key=key)


def day_counts_table(columns: Mapping[str, Mapping[str, int]]) -> dg.MetadataValue:
    """A markdown table with one row per day and one column per count."""
    frame = pd.DataFrame(columns).fillna(0).astype(int).rename_axis("day").reset_index()
    if frame.empty:
        return dg.MetadataValue.md("_no days_")
    return dg.MetadataValue.md(frame.to_markdown(index=False, disable_numparse=True))


def preview(
    frame: pd.DataFrame,
    columns: list[str] | None = None,
    links: Callable[[str], str] | None = None,
) -> dg.MetadataValue:
    """The first rows of ``frame`` as a markdown table, every value as the text it is.

    Each value fits a cell: one line, at most ``MAX_SHOWN_CHARS`` characters and a marker with
    its full length (the whole value stays in the day files). With ``links``, each form's id
    links to the form in Yida.
    """
    # A day without forms has a frame without columns too: it reads as no rows, not an error.
    if frame.empty:
        return dg.MetadataValue.md("_no rows_")
    shown = (frame[columns] if columns else frame).head(PREVIEW_ROWS).astype(str)
    for name in shown.columns:
        linked = links is not None and _names_forms(str(name))
        limit = MAX_REASON_CHARS if name == "reason" else MAX_SHOWN_CHARS
        shown[name] = shown[name].map(
            lambda v, linked=linked, limit=limit: _cell(v, links if linked else None, limit)
        )
    # Numbers stay the text they are: tabulate would re-parse them as floats and print 6
    # significant digits (17832.68 as 17832.7), and money must read exactly as stored.
    return dg.MetadataValue.md(shown.to_markdown(index=False, disable_numparse=True))


def _names_forms(column: str) -> bool:
    """Whether ``column`` holds Yida process instance ids (the rejects' or a table's key)."""
    return column == "process_instance_id" or column.endswith("processInstanceId")


def _cell(shown: object, link: Callable[[str], str] | None, limit: int) -> str:
    """``shown`` as one bounded markdown cell, linked to Yida when ``link`` is given."""
    # pandas keeps a missing value missing through astype(str): an empty cell.
    value = shown if isinstance(shown, str) else "" if _missing(shown) else str(shown)
    # Any line break would end the table's row, a bar the cell, and a control character can
    # mean something to the table writer (\x01 is tabulate's separating line): shown as codes.
    flat = " ".join(value.splitlines()).replace("|", "\\|").translate(_CONTROL_CODES)
    if len(flat) > limit:
        flat = f"{flat[: limit - 1]}… ({len(value)} characters)"
    elif link is not None and value and value == flat:
        return f"[{value}]({link(value)})"
    return flat


def _missing(value: object) -> bool:
    return bool(pd.api.types.is_scalar(value) and pd.isna(value))  # type: ignore[call-overload]
