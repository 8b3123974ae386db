"""Approved DingTalk Yida forms into the finance tables (``hc_dd_fktk``, ``hc_dd_fybx``)."""
