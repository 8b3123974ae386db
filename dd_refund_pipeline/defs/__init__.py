"""Dagster objects, one concept per module; ``definitions.py`` loads them all.

Loading starts here, so this is where a command-line run learns to report missing or wrong
settings in a few lines naming them, instead of a traceback per variable.
"""

from dd_refund_pipeline import missing_settings

missing_settings.install()
