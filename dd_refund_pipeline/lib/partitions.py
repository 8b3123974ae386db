"""Daily partitions: one per China calendar day of the forms' creation time, for every form.

Beside them, how a run covers a range of those days: Dagster's two range tags.
"""

from collections.abc import Mapping
from datetime import datetime

import dagster as dg

from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.settings import PARTITIONS_START_ENV, day_setting

# Where backfills can start; set DD_REFUND_PARTITIONS_START to reach further back (the demo sets
# it to its first day).
PARTITIONS_START = day_setting(PARTITIONS_START_ENV, "2024-01-01")

form_days = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone=CHINA_TZ.key)

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


def lookback_days(at: datetime, days: int) -> list[str]:
    """The last ``days`` complete China days before ``at`` (never the wall clock)."""
    return list(form_days.get_partition_keys(current_time=at)[-days:])
