"""Where things live by default, so a newcomer needs no configuration at all."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL_ENV = "DD_REFUND_DATABASE_URL"


def dagster_home() -> Path:
    """``$DAGSTER_HOME``, else ``.dagster_home`` in the project (what ``make`` sets up)."""
    return Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")


def default_database_url() -> str:
    """The embedded default: a SQLite file under the Dagster home."""
    return f"sqlite:///{dagster_home() / 'dd_refund.db'}"


def database_url() -> str:
    return os.environ.get(DATABASE_URL_ENV) or default_database_url()
