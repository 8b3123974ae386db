"""Dagster objects, one concept per module; ``definitions.py`` loads them all."""
