"""The sync job: raw instances → cleaned rows → ``hc_dd_fktk``, with their checks."""

import dagster as dg

from dd_refund_pipeline.defs.run_metadata import GROUP

dd_refund_sync_job = dg.define_asset_job(
    "dd_refund_sync_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Approved refund forms from DingTalk Yida into hc_dd_fktk, for a range of days.",
)
