"""Refund rows: the transform from Yida instances and the load into the target table.

Plain Python (pandas, SQLAlchemy), no Dagster imports.
"""
