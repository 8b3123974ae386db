"""The project's SQL, kept as files in ``sql/``: identifiers fixed there, values always bound."""

from __future__ import annotations

import functools
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@functools.cache
def read_sql(name: str) -> str:
    """The text of ``sql/<name>``, without its leading comment lines."""
    path = SQL_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"SQL file {path} is missing")
    lines = path.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("--")).strip()


def split_statements(script: str) -> list[str]:
    """The statements of a DDL script (no semicolons inside our statements)."""
    return [statement.strip() for statement in script.split(";") if statement.strip()]
