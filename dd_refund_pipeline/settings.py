"""Where things live: the Dagster home, and the refund database (which must be named)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL_ENV = "DD_REFUND_DATABASE_URL"


def dagster_home() -> Path:
    """``$DAGSTER_HOME``, else ``.dagster_home`` in the project (what ``make`` sets up)."""
    return Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")


def demo_database_url() -> str:
    """The demo's database (``make run``, ``make dev``): a SQLite file under the Dagster home.

    Only the demo uses it, and it says so by setting ``DD_REFUND_DATABASE_URL`` to it: anywhere
    else a run without that setting fails at start instead of filling a file nobody reads.
    """
    return f"sqlite:///{dagster_home() / 'dd_refund.db'}"


class MissingSettingError(RuntimeError):
    """A required setting is not set; the message names it."""


def database_url() -> str:
    """``DD_REFUND_DATABASE_URL``; there is no silent default outside the demo."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if not url:
        raise MissingSettingError(
            f"{DATABASE_URL_ENV} is not set: give the SQLAlchemy URL of the finance database "
            f"(e.g. mysql+pymysql://user:password@host:3306/finance); `make run` and `make dev` "
            f"set a demo SQLite file themselves"
        )
    return url
