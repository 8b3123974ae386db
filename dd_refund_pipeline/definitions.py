"""The code location: every form's definitions and the shared ones, from ``defs/``."""

from pathlib import Path

import dagster as dg

from dd_refund_pipeline.lib.code_location import build_code_location


@dg.definitions
def defs() -> dg.Definitions:
    """Every form's assets, checks, schedules and sensors, with the shared resources."""
    return build_code_location(project_root=Path(__file__).parent.parent)
