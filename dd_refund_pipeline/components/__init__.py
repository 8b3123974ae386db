"""Dagster components of this project: one Yida form, synced into its table, from one spec."""
