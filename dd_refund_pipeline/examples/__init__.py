"""The worked example forms: one folder each, loaded by Dagster only in the demo and tests."""
