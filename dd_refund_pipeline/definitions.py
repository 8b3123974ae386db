"""The code location: every form's definitions and the shared ones, from ``defs/``."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """Every form's assets, checks, schedules and sensors, with the shared resources."""
    return dg.load_from_defs_folder(project_root=Path(__file__).parent.parent)
