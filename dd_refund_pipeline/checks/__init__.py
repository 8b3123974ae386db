"""What the per-day checks assert about a loaded day, and the names Dagster shows them under."""
