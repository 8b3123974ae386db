"""The form-sync component: a Yida form's spec becomes its assets, checks, schedule and sensors.

Each form is one folder under ``dd_refund_pipeline/defs/`` holding a ``defs.yaml`` of this type
(``dg check defs`` validates it; ``load_from_defs_folder`` builds it). The folder names the form
spec and the public names of what the component builds, so that a form's asset keys, job,
schedule and sensors never change by accident. A typo in the spec stops the code location at
load, naming the spec's file and the field.
"""

# No ``from __future__ import annotations`` here: dg.Resolvable reads the attributes' types.

import re
from dataclasses import dataclass, fields
from pathlib import Path

import dagster as dg
import yaml

from dd_refund_pipeline.components.form_defs import FormDefs, FormNames
from dd_refund_pipeline.components.freshness_sensor import build_freshness_sensor
from dd_refund_pipeline.components.instances_asset import build_instances_asset
from dd_refund_pipeline.components.late_changes_sensor import build_late_changes_sensor
from dd_refund_pipeline.components.lookback_schedule import build_job, build_lookback_schedule
from dd_refund_pipeline.components.rows_asset import build_rows_asset
from dd_refund_pipeline.components.table_asset import build_table_asset
from dd_refund_pipeline.defs.resources import SYSTEM_TOKEN_ENV
from dd_refund_pipeline.forms.spec import FORMS_DIR, FormSpec, SpecError, load_form_spec

DEFS_DIR = Path(__file__).resolve().parent.parent / "defs"


def build_form_defs(form: FormDefs) -> dg.Definitions:
    """Everything one form needs: raw → rows → table, their checks, job, schedule, sensors.

    The resources (Yida, the database, the files, the robot) and the alert sensors on run
    failures and failed checks are the code location's, shared by every form: one ``yida_api``
    pool, one robot, one monthly call count.
    """
    job = build_job(form)
    return dg.Definitions(
        assets=[build_instances_asset(form), build_rows_asset(form), build_table_asset(form)],
        jobs=[job],
        schedules=[build_lookback_schedule(form, job)],
        sensors=[build_late_changes_sensor(form, job), build_freshness_sensor(form)],
    )


@dataclass(kw_only=True)
class YidaFormSync(FormNames, dg.Component, dg.Resolvable):
    """One Yida form synced into its finance table: a form spec and the names Dagster shows.

    Attributes:
        form: The form spec: a name in ``dd_refund_pipeline/forms`` (``fktk_refund``), or a
            YAML path relative to this ``defs.yaml``.
        group: The asset group of the form's three assets (its job selects it).
        instances_asset: The raw asset (one JSON Lines file per day of Yida payloads).
        rows_asset: The cleaned rows (Parquet per day, with the rejects).
        job: The job the schedule and the late-change sensor launch.
        schedule: The daily look-back schedule.
        late_changes_sensor: The sensor for forms changed after the look-back.
        freshness_sensor: The sensor that reports a late table.
        freshness_deadline: China time (HH:MM) by which yesterday's forms must be in the table.
    """

    form: str

    def spec(self, folder: Path) -> FormSpec:
        """The validated form spec this component syncs; ``folder`` holds its ``defs.yaml``."""
        path = Path(self.form)
        if path.suffix in (".yaml", ".yml"):
            spec = load_form_spec(path if path.is_absolute() else folder / path)
        else:
            spec = load_form_spec(FORMS_DIR / f"{self.form}.yaml")
        if spec.source.system_token_env != SYSTEM_TOKEN_ENV:
            raise SpecError(
                f"form spec {spec.name}: source.system_token_env is "
                f"{spec.source.system_token_env}, but this code location reads the Yida app's "
                f"systemToken from {SYSTEM_TOKEN_ENV} (one app per code location)"
            )
        return spec

    def form_defs(self, folder: Path) -> FormDefs:
        """The spec and this component's names, as the builders take them."""
        deadline = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", self.freshness_deadline)
        if deadline is None:
            raise SpecError(
                f"{folder / 'defs.yaml'}: freshness_deadline '{self.freshness_deadline}' is not "
                "a China time of day as HH:MM"
            )
        names = {f.name: getattr(self, f.name) for f in fields(FormNames)}
        return FormDefs(spec=self.spec(folder), **names)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """The form's definitions (see ``build_form_defs``)."""
        return build_form_defs(self.form_defs(Path(context.path)))


def project_forms() -> list[FormDefs]:
    """Every form this code location syncs: each ``defs.yaml`` of this type under ``defs/``."""
    forms = []
    for path in sorted(DEFS_DIR.glob("*/defs.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if str(document.get("type", "")).endswith(f".{YidaFormSync.__name__}"):
            forms.append(YidaFormSync(**document["attributes"]).form_defs(path.parent))
    return forms
