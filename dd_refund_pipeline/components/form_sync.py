"""The form-sync component: a Yida form's spec becomes its assets, checks, schedule and sensors.

Each form is one folder under ``dd_refund_pipeline/defs/``: a ``defs.yaml`` of this type holding
the form's spec and the public names of what the component builds (so that a form's asset keys,
job, schedule and sensors never change by accident), and its table's DDL (``<table>.sql``). The
spec is typed attributes (``forms/spec_model.py``): ``dg check defs`` names the file, the line,
the field and the expected type of a typo; ``load_from_defs_folder`` builds the form.
"""

# No ``from __future__ import annotations`` here: dg.Resolvable reads the attributes' types.

import functools
import importlib
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Self

import dagster as dg
import pydantic
from pydantic import BaseModel

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
from dd_refund_pipeline.forms.spec import (
    DEFS_DIR,
    EXAMPLES_DIR,
    FormSpec,
    SpecError,
    load_form_spec,
    parse_form_spec,
)
from dd_refund_pipeline.forms.spec_model import FormSpecModel
from dd_refund_pipeline.lib.resources import SYSTEM_TOKEN_ENV
from dd_refund_pipeline.settings import EXAMPLE_FORMS_ENV, PROJECT_ROOT, example_forms_on


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
        form: The form's name (``fktk_refund``): its folder's, and the ``--form`` of the
            command-line tools.
        spec: The Yida form, its filters and formats, and the table's columns
            (``forms/spec_model.py``); the table's DDL is ``<table>.sql`` in this folder.
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
    spec: FormSpecModel

    def resolved_spec(self, folder: Path) -> FormSpec:
        """The spec against its table's DDL; ``folder`` holds its ``defs.yaml`` and DDL."""
        origin = _shown(folder / "defs.yaml")
        spec = parse_form_spec(self.form, self.spec, origin, folder=folder)
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
        return FormDefs(spec=self.resolved_spec(folder), timing=timing, **names)

    @classmethod
    def model(cls) -> type[BaseModel]:
        """Dagster's schema of the attributes, with the spec typed all the way down.

        Dagster lets every attribute be a template string too (``spec: FormSpecModel | str``);
        a spec is never one, and with that alternative a typo deep in it is reported as the
        whole spec matching neither. Without it, ``dg check defs`` names the field, its line
        and the type it expected.
        """
        return _attributes_model(super().model())

    @classmethod
    def load(cls, attributes: BaseModel | None, context: dg.ComponentLoadContext) -> Self:
        """The component, remembering its folder: the spec's DDL and messages are found there."""
        component = super().load(attributes, context)
        # Not an attribute (the schema is the defs.yaml's): where Dagster found the file.
        setattr(component, "_folder", Path(context.path))  # noqa: B010
        return component

    @property
    def folder(self) -> Path:
        """The form's folder (its ``defs.yaml`` and DDL), once Dagster has loaded it."""
        folder = getattr(self, "_folder", None)
        if folder is None:
            raise SpecError(f"form {self.form}: its folder is known once Dagster loads it")
        return folder

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
    """The worked examples (``examples/<form>/``): the demo's and the tests' second form."""
    return _forms_in(EXAMPLES_DIR)


@functools.cache
def _attributes_model(derived: type[BaseModel]) -> type[BaseModel]:
    spec = derived.model_fields["spec"]
    typed = pydantic.create_model(
        derived.__name__,
        __base__=derived,
        spec=(FormSpecModel, pydantic.Field(description=spec.description)),
    )
    typed.model_config["json_schema_extra"] = derived.model_config.get("json_schema_extra")
    return typed


def _forms_in(folder: Path) -> list[FormDefs]:
    """The forms of ``defs/`` or ``examples/``, found and loaded by Dagster's component tree.

    Dagster applies its schema and the ``{{ env.* }}`` templates, as it does for the code location.
    """
    module = importlib.import_module(f"dd_refund_pipeline.{folder.name}")
    tree = dg.ComponentTree.from_module(defs_module=module, project_root=PROJECT_ROOT)
    components = tree.get_all_components(of_type=YidaFormSync)
    return sorted((c.form_defs(c.folder) for c in components), key=lambda form: form.spec.name)


def _shown(path: Path) -> str:
    """``path`` as a person finds it: relative to the project when it is in it."""
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def _example_form_uuids() -> set[str]:
    """The made-up formUuids of the worked examples' specs."""
    uuids = set()
    for path in EXAMPLES_DIR.glob("*/defs.yaml"):
        spec = load_form_spec(path.parent)
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
