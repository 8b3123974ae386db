"""Daily partitions: one per China calendar day of the forms' creation time, for every form.

Beside them, how a run covers a range of those days: Dagster's two range tags.
"""

from collections.abc import Mapping
from datetime import datetime

import dagster as dg

from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ

# Where a form's backfills can start unless its component says otherwise (its ``defs.yaml``
# reads DD_REFUND_PARTITIONS_START; the demo sets that to its first day).
DEFAULT_START = "2024-01-01"


def form_days(start: str = DEFAULT_START) -> dg.DailyPartitionsDefinition:
    """A form's days: one partition per China calendar day of creation, from ``start``."""
    return dg.DailyPartitionsDefinition(start_date=start, timezone=CHINA_TZ.key)


# Dagster's run tags for a partition-range run; RunRequest has no public range argument in 1.13
# (proposed in dagster-io/dagster#34096). The same strings as dagster._core.storage.tags.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags that make one run cover the days ``first..last``."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def window_label(first: str, last: str) -> str:
    """How a range of days reads everywhere (metadata, alerts, logs): ``A...B``, or one day."""
    return first if first == last else f"{first}...{last}"


def run_window(tags: Mapping[str, str]) -> str:
    """The days a run covered, from its partition tags."""
    if RANGE_START_TAG in tags:
        return window_label(tags[RANGE_START_TAG], tags.get(RANGE_END_TAG, "?"))
    return tags.get("dagster/partition", "unpartitioned")


def lookback_days(partitions: dg.PartitionsDefinition, at: datetime, days: int) -> list[str]:
    """The last ``days`` complete China days of ``partitions`` before ``at`` (never the clock)."""
    return list(partitions.get_partition_keys(current_time=at)[-days:])
