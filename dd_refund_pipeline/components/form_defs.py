"""What one synced form is called in Dagster: its spec, and the names of what is built from it."""

# No ``from __future__ import annotations`` here: dg.Resolvable reads the attributes' types.

from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg

from dd_refund_pipeline.forms.spec import FormSpec
from dd_refund_pipeline.lib.partitions import DEFAULT_START, form_days, lookback_days
from dd_refund_pipeline.settings import (
    TIMING_ENV,
    day_value,
    hours_value,
    text_value,
    whole_days_value,
)

# 02:30 China time: after midnight's approvals, before the finance team's morning.
DEFAULT_SCHEDULE_CRON = "30 2 * * *"
# Four sweeps a day: about 120 list calls a month when nothing changes.
DEFAULT_SWEEP_HOURS = 6.0
# Sunday 04:00 China time: after the 02:30 run, the quietest hour of the week.
DEFAULT_DEEP_RECONCILE_CRON = "0 4 * * 0"
DEFAULT_DEEP_RECONCILE_DAYS = 400


@dataclass(kw_only=True)
class FormNames:
    """The names of what is built for one form: its assets, job, schedule and sensors.

    They are public: users bookmark the assets and search runs by job, so each form's
    ``defs.yaml`` spells them out rather than deriving them.
    """

    group: str
    instances_asset: str
    rows_asset: str
    job: str
    schedule: str
    late_changes_sensor: str
    freshness_sensor: str
    deep_reconcile_job: str
    deep_reconcile_schedule: str
    # China time (HH:MM) by which yesterday's forms must be in the table.
    freshness_deadline: str = "09:00"
    # Who answers for the form's data (Dagster owners: emails or ``team:name``), on its assets.
    owners: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class FormTiming:
    """When a form's days begin and its runs happen, as the form's ``defs.yaml`` gives them.

    Text, as Dagster's templating resolves it: the shipped ``defs.yaml`` files read each from the
    environment (``"{{ env.DD_REFUND_SCHEDULE_CRON }}"``, see ``TIMING_ENV``), so a deployment
    sets them for every form at once; a form may write its own instead. Unset or blank: the
    default.
    """

    # The first day a backfill can reach (YYYY-MM-DD; default 2024-01-01).
    partitions_start: str | None = None
    # When the daily look-back run starts, China time (default 30 2 * * *).
    schedule_cron: str | None = None
    # Hours between the late-change sensor's sweeps (default 6; each costs a list call).
    late_changes_interval_hours: str | None = None
    # When the weekly deep reconciliation starts, China time (default 0 4 * * 0).
    deep_reconcile_cron: str | None = None
    # How many days back the deep reconciliation reaches (default 400).
    deep_reconcile_days: str | None = None


@dataclass(frozen=True)
class Timing:
    """A form's timing, checked and typed: what the builders take."""

    days: dg.DailyPartitionsDefinition
    schedule_cron: str = DEFAULT_SCHEDULE_CRON
    late_changes_interval_hours: float = DEFAULT_SWEEP_HOURS
    deep_reconcile_cron: str = DEFAULT_DEEP_RECONCILE_CRON
    deep_reconcile_days: int = DEFAULT_DEEP_RECONCILE_DAYS

    @classmethod
    def of(cls, raw: FormTiming, where: str) -> "Timing":
        """``raw`` checked; a bad value names the attribute, ``where`` it is and its variable."""

        def name(attribute: str) -> str:
            return f"{attribute} in {where} ({TIMING_ENV[attribute]} there)"

        return cls(
            days=form_days(
                day_value(name("partitions_start"), raw.partitions_start, DEFAULT_START)
            ),
            schedule_cron=text_value(raw.schedule_cron, DEFAULT_SCHEDULE_CRON),
            late_changes_interval_hours=hours_value(
                name("late_changes_interval_hours"),
                raw.late_changes_interval_hours,
                DEFAULT_SWEEP_HOURS,
            ),
            deep_reconcile_cron=text_value(raw.deep_reconcile_cron, DEFAULT_DEEP_RECONCILE_CRON),
            deep_reconcile_days=whole_days_value(
                name("deep_reconcile_days"), raw.deep_reconcile_days, DEFAULT_DEEP_RECONCILE_DAYS
            ),
        )


def default_timing() -> Timing:
    """Every default: days from 2024-01-01, the 02:30 run, 6-hour sweeps, the Sunday listing."""
    return Timing(days=form_days())


@dataclass(kw_only=True)
class FormDefs(FormNames):
    """One form's spec, its timing and the names of what is built from it (the builders' input)."""

    spec: FormSpec
    timing: Timing = field(default_factory=default_timing)

    @property
    def days(self) -> dg.DailyPartitionsDefinition:
        """The form's day partitions, shared by its three assets and their checks."""
        return self.timing.days

    def lookback_days(self, at: datetime) -> list[str]:
        """The days the look-back re-reads at ``at``: its last complete days."""
        return lookback_days(self.days, at, self.spec.filters.lookback_days)

    @property
    def table_asset(self) -> str:
        """The table's asset is named after the table it holds."""
        return self.spec.target.table

    @property
    def key(self) -> str:
        """The target table's key column."""
        return self.spec.target.key
