"""Approved DingTalk Yida refund forms into the finance table ``hc_dd_fktk``."""
