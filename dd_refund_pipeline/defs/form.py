"""The form spec this code location syncs (``DD_REFUND_FORM``, default the seed's scheme).

Loaded when the code location loads, so a typo in the spec stops it before any run starts.
"""

import os

from dd_refund_pipeline.forms.spec import DEFAULT_FORM, load_form_spec

FORM_SPEC = load_form_spec(os.environ.get("DD_REFUND_FORM", DEFAULT_FORM))
