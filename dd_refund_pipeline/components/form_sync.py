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

from dd_refund_pipeline.components.deep_reconcile_schedule import (
    build_deep_reconcile_job,
    build_deep_reconcile_schedule,
)
from dd_refund_pipeline.components.form_defs import FormDefs, FormNames, FormTiming, Timing
from dd_refund_pipeline.components.freshness_sensor import build_freshness_sensor
from dd_refund_pipeline.components.instances_asset import build_instances_asset
from dd_refund_pipeline.components.late_changes_sensor import build_late_changes_sensor
from dd_refund_pipeline.components.lookback_schedule import build_job, build_lookback_schedule
from dd_refund_pipeline.components.rows_asset import build_rows_asset
from dd_refund_pipeline.components.table_asset import build_table_asset
from dd_refund_pipeline.forms.spec import FORMS_DIR, FormSpec, SpecError, load_form_spec
from dd_refund_pipeline.lib.resources import SYSTEM_TOKEN_ENV
from dd_refund_pipeline.settings import EXAMPLE_FORMS_ENV, PROJECT_ROOT, example_forms_on

DEFS_DIR = Path(__file__).resolve().parent.parent / "defs"
# The worked examples: forms with made-up identifiers, in the code location only when
# DD_REFUND_EXAMPLE_FORMS=on (the demo, the tests).
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


def build_form_defs(form: FormDefs) -> dg.Definitions:
    """Everything one form needs: raw → rows → table, their checks, jobs, schedules, sensors.

    The resources (Yida, the database, the files, the robot) and the alert sensors on run
    failures and failed checks are the code location's, shared by every form: one ``yida_api``
    pool, one robot, one monthly call count.
    """
    job, deep_job = build_job(form), build_deep_reconcile_job(form)
    return dg.Definitions(
        assets=[build_instances_asset(form), build_rows_asset(form), build_table_asset(form)],
        jobs=[job, deep_job],
        schedules=[
            build_lookback_schedule(form, job),
            build_deep_reconcile_schedule(form, deep_job),
        ],
        sensors=[build_late_changes_sensor(form, job), build_freshness_sensor(form)],
    )


@dataclass(kw_only=True)
class YidaFormSync(FormNames, FormTiming, dg.Component, dg.Resolvable):
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
        deep_reconcile_job: The job that lists the form's old days again.
        deep_reconcile_schedule: Its weekly schedule.
        freshness_deadline: China time (HH:MM) by which yesterday's forms must be in the table.
        owners: Who answers for the form's data, shown on its three assets (emails or
            ``team:name``).
        partitions_start: The first day a backfill can reach (YYYY-MM-DD).
        schedule_cron: When the daily look-back run starts (cron, China time).
        late_changes_interval_hours: Hours between the late-change sensor's sweeps.
        deep_reconcile_cron: When the weekly deep reconciliation starts (cron, China time).
        deep_reconcile_days: How many days back the deep reconciliation reaches.

    The five timing attributes are text, unset or blank meaning the default; the shipped
    ``defs.yaml`` files read each from the environment (``settings.TIMING_ENV``).
    """

    form: str

    def spec(self, folder: Path) -> FormSpec:
        """The validated form spec this component syncs; ``folder`` holds its ``defs.yaml``."""
        path = Path(self.form)
        if path.suffix in (".yaml", ".yml"):
            spec = load_form_spec(path if path.is_absolute() else folder / path)
        else:
            spec = load_form_spec(FORMS_DIR / f"{self.form}.yaml")
        _refuse_example_outside_the_demo(spec)
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
        timing = Timing.of(self, _shown(folder / "defs.yaml"))
        return FormDefs(spec=self.spec(folder), timing=timing, **names)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """The form's definitions (see ``build_form_defs``)."""
        return build_form_defs(self.form_defs(Path(context.path)))


def project_forms() -> list[FormDefs]:
    """Every form this code location syncs.

    Each ``defs.yaml`` of this type under ``defs/``, and the worked examples' under
    ``examples/`` when ``DD_REFUND_EXAMPLE_FORMS=on``.
    """
    return _forms_in(DEFS_DIR) + (example_forms() if example_forms_on() else [])


def example_forms() -> list[FormDefs]:
    """The worked examples (``examples/*/defs.yaml``): the demo's and the tests' second form."""
    return _forms_in(EXAMPLES_DIR)


def _forms_in(folder: Path) -> list[FormDefs]:
    forms = []
    for path in sorted(folder.glob("*/defs.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if str(document.get("type", "")).endswith(f".{YidaFormSync.__name__}"):
            # Resolved as Dagster resolves them: the schema, and the {{ env.* }} templates.
            component = YidaFormSync.resolve_from_dict(document["attributes"])
            forms.append(component.form_defs(path.parent))
    return forms


def _shown(path: Path) -> str:
    """``path`` as a person finds it: relative to the project when it is in it."""
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def _example_form_uuids() -> set[str]:
    """The made-up formUuids of the worked examples' specs."""
    uuids = set()
    for path in FORMS_DIR.glob("*.yaml"):
        spec = load_form_spec(path)
        if spec.example:
            uuids.add(spec.source.form_uuid)
    return uuids


def _refuse_example_outside_the_demo(spec: FormSpec) -> None:
    """A spec with an example's made-up identifiers would fail every night against real Yida."""
    if example_forms_on():
        return
    if spec.example or spec.source.form_uuid in _example_form_uuids():
        raise SpecError(
            f"form spec {spec.name} carries the worked example's made-up identifiers (formUuid "
            f"{spec.source.form_uuid}); no real Yida app has them. Give it your form's "
            f"identifiers and remove 'example: true' (README, 'Adding a form'), or set "
            f"{EXAMPLE_FORMS_ENV}=on to run the example against the emulator (the demo does)"
        )
