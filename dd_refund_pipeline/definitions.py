"""The code location: assembles everything under ``dd_refund_pipeline/defs``.

The worked example forms (``dd_refund_pipeline/examples``) join only with
``DD_REFUND_EXAMPLE_FORMS=on``: the demo and the tests set it.
"""

import functools
import os
from pathlib import Path

import dagster as dg

from dd_refund_pipeline import missing_settings
from dd_refund_pipeline.settings import example_forms_on

# A command-line run without its settings ends in a few lines naming them, not 130.
missing_settings.install()


@dg.definitions
def defs() -> dg.Definitions:
    """Every form's assets, checks, schedules and sensors, with the shared resources."""
    return _load(tuple(sorted(os.environ.items())))


@functools.lru_cache(maxsize=4)
def _load(environment: tuple[tuple[str, str], ...]) -> dg.Definitions:
    # Dagster reconstructs the code location several times in one run (six times for one
    # `dagster asset materialize`, ~0.2 s each); what it builds depends only on the files and
    # the environment (which settings are set), so a process builds it once per environment.
    location = dg.load_from_defs_folder(project_root=Path(__file__).parent.parent)
    if not example_forms_on():
        return location
    # Imported here, as the defs folder's modules are: a bad setting read at their import must
    # reach the one-line message installed above, not a traceback.
    from dd_refund_pipeline.components.form_sync import build_form_defs, example_forms

    # The worked example (made-up identifiers): only in the demo and the tests.
    return dg.Definitions.merge(location, *(build_form_defs(f) for f in example_forms()))
