"""What one synced form is called in Dagster: its spec, and the names of what is built from it."""

# No ``from __future__ import annotations`` here: dg.Resolvable reads the attributes' types.

from dataclasses import dataclass, field

from dd_refund_pipeline.forms.spec import FormSpec


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
class FormDefs(FormNames):
    """One form's spec and the names of what is built from it (what the builders take)."""

    spec: FormSpec

    @property
    def table_asset(self) -> str:
        """The table's asset is named after the table it holds."""
        return self.spec.target.table

    @property
    def key(self) -> str:
        """The target table's key column."""
        return self.spec.target.key
