"""Dagster helpers the components share: resources, partitions, run metadata, alerts, quota."""
