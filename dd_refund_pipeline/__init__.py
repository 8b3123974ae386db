"""Approved DingTalk Yida forms into the finance tables (``hc_dd_fktk``, ``hc_dd_fybx``)."""

from dd_refund_pipeline.allocators import use_lean_allocators

use_lean_allocators()
