"""Daily partitions: one per China calendar day of the forms' creation time."""

import os

import dagster as dg

from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ

# Where backfills can start; set DD_REFUND_PARTITIONS_START to reach further back.
PARTITIONS_START = os.environ.get("DD_REFUND_PARTITIONS_START", "2024-01-01")

refund_days = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone=CHINA_TZ.key)
