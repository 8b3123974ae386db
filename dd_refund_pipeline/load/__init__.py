"""The load: a form's rows into its table with their sync state, its table's creation and adoption.

Plain Python (pandas, SQLAlchemy), no Dagster imports.
"""
