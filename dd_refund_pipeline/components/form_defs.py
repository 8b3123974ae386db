"""What one synced form is called in Dagster: its spec, and the names of what is built from it."""

from __future__ import annotations

from dataclasses import dataclass

from dd_refund_pipeline.forms.spec import FormSpec


@dataclass(frozen=True)
class FormDefs:
    """One form's spec and the names of its assets, job, schedule and sensors.

    The names are public: users bookmark the assets and search runs by job, so each form's
    ``defs.yaml`` spells them out rather than deriving them.
    """

    spec: FormSpec
    group: str
    instances_asset: str
    rows_asset: str
    job: str
    schedule: str
    late_changes_sensor: str
    freshness_sensor: str
    freshness_deadline: str = "09:00"

    @property
    def table_asset(self) -> str:
        """The table's asset is named after the table it holds."""
        return self.spec.target.table

    @property
    def key(self) -> str:
        """The target table's key column."""
        return self.spec.target.key
