"""The project's SQL, kept as files in ``sql/``: identifiers fixed there, values always bound."""

from __future__ import annotations

import functools
import re
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


def with_key_list(sql: str, count: int, paramstyle: str, others: int = 0) -> str:
    """``sql`` in the driver's placeholders: ``:keys`` as ``count`` of them, then ``others``.

    For statements whose parameters are a list of keys and, after it, ``others`` single
    values (``:name`` each): the values still travel bound, but the driver gets them directly,
    without SQLAlchemy expanding and processing thousands of parameters on every execution
    (measured: ~0.1 s per 5,000 keys).
    """
    placeholder = "?" if paramstyle == "qmark" else "%s"
    sql = sql.replace(":keys", "(" + ", ".join([placeholder] * count) + ")")
    names = re.findall(r"(?<![:\w]):\w+", sql)
    if len(names) != others:
        raise ValueError(f"expected {others} parameters after :keys, found {names}")
    for name in names:
        sql = sql.replace(name, placeholder, 1)
    return sql


def split_statements(script: str) -> list[str]:
    """The statements of a DDL script (no semicolons inside our statements)."""
    return [statement.strip() for statement in script.split(";") if statement.strip()]
