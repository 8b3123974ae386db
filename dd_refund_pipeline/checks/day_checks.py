"""The checks of a form's table, one verdict per day: pure pandas over what the load read back.

A reviewer asks "which days have a problem?", and a day's verdict must stay visible until a later
evaluation of that same day passes: a passing backfill of other days says nothing about it. So
every check here is computed for one day at a time, from that day's API keys, rows and rejects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from dd_refund_pipeline.checks import check_names as checks
from dd_refund_pipeline.dingtalk import payload_json
from dd_refund_pipeline.forms.spec import FormSpec, ValidityRule
from dd_refund_pipeline.transform.instances import rejected_records

# What a reviewer needs to find a rejected form in Yida, even one without a usable id.
# What went wrong comes before the ids, so that it is on screen in the sample's dialog.
REJECT_SHOWN = [
    "partition_date",
    "serial_number",
    "title",
    "originator",
    "field",
    "reason",
    "raw_value",
    "created_at",
    "process_instance_id",
    "record_key",
]
WARN, ERROR = "WARN", "ERROR"


@dataclass(frozen=True)
class Verdict:
    """One check's result for one day: counts, and the offending rows as samples."""

    check: str
    passed: bool
    severity: str
    counts: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def description(self) -> str:
        """The verdict in one line: passed or FAILED, with its counts."""
        shown = ", ".join(f"{k}={v}" for k, v in self.counts.items() if isinstance(v, int))
        return ("passed" if self.passed else "FAILED") + (f": {shown}" if shown else "")


@dataclass(frozen=True)
class DayFacts:
    """What one day of the run holds: the API's keys, the table's rows, rejects, gone forms."""

    day: str
    api_keys: list[str]
    stored: pd.DataFrame  # the table's rows of the day's clean keys (key and checked columns)
    rejects: pd.DataFrame
    gone: pd.DataFrame  # rows of GoneReport.rows for the day, already narrowed to the reported


def _offenders(name: str, offenders: pd.DataFrame, severity: str, **counts: Any) -> Verdict:
    head = offenders.head(checks.SAMPLE_SIZE)
    return Verdict(
        name, offenders.empty, severity, {"offending": len(offenders), **counts}, {"sample": head}
    )


def _violations(rule: ValidityRule, stored: pd.DataFrame, now: datetime) -> pd.Series:
    """True for each stored row that breaks ``rule``."""
    values = stored[rule.column.name]
    if rule.kind == "pattern":
        pattern = rule.column.pattern or ".*"
        return ~values.map(lambda v: bool(re.match(pattern, str(v))))
    if rule.kind == "positive":
        return values.map(lambda v: not v > 0)
    earliest = datetime.combine(rule.column.earliest, datetime.min.time())
    tomorrow = now.replace(tzinfo=None) + timedelta(days=1)
    return (values < earliest) | (values > tomorrow)


def validity(spec: FormSpec, stored: pd.DataFrame, now: datetime) -> list[Verdict]:
    """One verdict per validity rule of the spec (a pattern, a positive amount, a date range)."""
    verdicts = []
    for rule in spec.target.rules:
        extra = {"pattern": rule.column.pattern} if rule.kind == "pattern" else {}
        offenders = stored[_violations(rule, stored, now).astype(bool)] if len(stored) else stored
        verdicts.append(_offenders(rule.check_name, offenders, WARN, checked=len(stored), **extra))
    return verdicts


def completeness(facts: DayFacts, present_keys: set[str]) -> Verdict:
    """Rows in the table for the day = unique instances the API returned − rejected ones."""
    api_ids = {k for k in facts.api_keys if not payload_json.is_anonymous(k)}
    anonymous = len(facts.api_keys) - len(set(facts.api_keys) & api_ids)
    rejected = {str(k) for k in facts.rejects["process_instance_id"].dropna()} & api_ids
    expected = api_ids - rejected
    present = present_keys & api_ids
    missing = sorted(expected - present)
    # A record rejected now whose earlier, valid version is still in the table.
    unexpected = sorted(present - expected)
    return Verdict(
        checks.TABLE_COMPLETE,
        not missing and not unexpected,
        ERROR,
        {
            "unique_api_instances": len(api_ids),
            "instances_without_id": anonymous,
            "rejected_instances": len(rejected),
            "expected_rows": len(expected),
            "rows_in_table": len(present),
            "missing_rows": len(missing),
            "missing_sample": ", ".join(missing[: checks.SAMPLE_SIZE]) or "-",
            "rejected_but_stored": len(unexpected),
        },
        # As the rejects' sample shows them: serial, title, originator, day and the reason.
        {"rejected_but_stored_sample": _stale_copies(facts.rejects, unexpected)},
    )


def _as_shown(rejects: pd.DataFrame) -> pd.DataFrame:
    """Rejects with the columns a person needs to find each form in Yida and fix it."""
    # Day files written before the tracing columns existed lack them: shown empty.
    return rejects.reindex(columns=REJECT_SHOWN).astype(object).fillna("")


def _stale_copies(rejects: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The rejects of forms whose last valid copy is still in the table."""
    if not keys:
        return _as_shown(rejects.head(0))
    ids = rejects["process_instance_id"].astype(str)
    return _as_shown(rejects[ids.isin(keys)]).head(checks.SAMPLE_SIZE)


def rejected(rejects: pd.DataFrame) -> Verdict:
    """No source record of the day was rejected; the sample says how to find each in Yida."""
    records = rejected_records(rejects)
    return _offenders(checks.NO_REJECTS, _as_shown(rejects), WARN, rejected_records=records)


def gone_upstream(spec: FormSpec, gone: pd.DataFrame, policy: str) -> Verdict:
    """Rows of forms Yida no longer returns: named (``flag``) or listed as removed (``delete``)."""
    checked = [name for name in spec.target.checked_columns if name != spec.target.key]
    shown = ["process_instance_id", "partition_date", *checked, "gone_since"]
    if gone.empty:
        removed = remaining = pd.DataFrame(columns=shown)
    else:
        removed = gone[gone["removed"]]
        remaining = gone[gone["row_key"].notna() & ~gone["removed"]]
    return Verdict(
        checks.NO_GONE_UPSTREAM,
        remaining.empty,
        WARN,
        {"policy": policy, "gone_upstream_rows": len(remaining), "removed": len(removed)},
        {
            "sample": remaining.reindex(columns=shown).head(checks.SAMPLE_SIZE),
            "removed_sample": removed.reindex(columns=shown).head(checks.SAMPLE_SIZE),
        },
    )


def day_verdicts(
    spec: FormSpec, facts: DayFacts, present_keys: set[str], policy: str, now: datetime
) -> list[Verdict]:
    """Every per-day check of the form's table for one day."""
    return [
        completeness(facts, present_keys),
        *validity(spec, facts.stored, now),
        rejected(facts.rejects),
        gone_upstream(spec, facts.gone, policy),
    ]
