"""The worked example forms (``dd_refund_pipeline/examples``), only when they are turned on.

Their identifiers are made up, so they join the code location only with
``DD_REFUND_EXAMPLE_FORMS=on`` (the demo and the tests set it). Dagster loads their folder as it
loads ``defs/``.
"""

import dagster as dg

from dd_refund_pipeline.components.form_sync import build_form_defs, example_forms
from dd_refund_pipeline.settings import example_forms_on


@dg.definitions
def example_form_defs() -> dg.Definitions:
    """Each example form's definitions when they are on; nothing otherwise."""
    if not example_forms_on():
        return dg.Definitions()
    return dg.Definitions.merge(dg.Definitions(), *(build_form_defs(f) for f in example_forms()))
