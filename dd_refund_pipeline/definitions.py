"""The code location: assembles everything under ``dd_refund_pipeline/defs``."""

import functools
import os
from pathlib import Path

import dagster as dg

from dd_refund_pipeline import missing_settings

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
    return dg.load_from_defs_folder(project_root=Path(__file__).parent.parent)
