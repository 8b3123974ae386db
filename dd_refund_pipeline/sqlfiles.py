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
    return without_comments(path.read_text(encoding="utf-8"))


def without_comments(sql: str) -> str:
    """``sql`` without its ``--`` comment lines."""
    lines = sql.splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("--")).strip()


def ddl_for(mysql_ddl: str, dialect: str) -> str:
    """A ``CREATE TABLE`` written for MySQL, as ``dialect`` (``mysql`` or ``sqlite``) takes it."""
    return without_comments(mysql_ddl) if dialect == "mysql" else sqlite_ddl(mysql_ddl)


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


# MySQL types whose SQLite twin differs: SQLite has no exact decimal (DECIMAL would keep the amount
# as a binary float, so it is its exact text, '1280.50'), and a rowid alias must be INTEGER.
_SQLITE_TYPES = {"DECIMAL": "TEXT", "BIGINT": "INTEGER", "INT": "INTEGER", "TINYINT": "INTEGER"}
_COMMENT = re.compile(r"\s+COMMENT\s*=?\s*'(?:[^']|'')*'", re.IGNORECASE)
_CREATE = re.compile(
    r"CREATE TABLE IF NOT EXISTS\s+`?(?P<table>[\w{}]+)`?\s*\((?P<body>.*)\)(?P<options>[^)]*)$",
    re.DOTALL,
)
_KEY = re.compile(
    r"(?P<kind>PRIMARY KEY|UNIQUE KEY|KEY)\s*(?:`?(?P<name>[\w{}]+)`?)?\s*\((?P<cols>.*)\)"
)
_COLUMN = re.compile(
    r"`?(?P<name>[\w{}]+)`?\s+(?P<type>[A-Z]+)(?P<params>\([\d,\s]*\))?(?P<rest>.*)"
)


def _top_level_items(body: str) -> list[str]:
    """The comma-separated items of a CREATE TABLE's body (commas inside parentheses kept)."""
    items, depth, start = [], 0, 0
    for index, char in enumerate(body):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(body[start:index].strip())
            start = index + 1
    items.append(body[start:].strip())
    return [item for item in items if item]


def _sqlite_column(match: re.Match[str]) -> tuple[str, bool]:
    """A column definition for SQLite, and whether it is the auto-increment row id."""
    rest = match["rest"].upper()
    if "AUTO_INCREMENT" in rest:
        return f"{match['name']} INTEGER PRIMARY KEY AUTOINCREMENT", True
    base = match["type"]
    sql_type = _SQLITE_TYPES.get(base) or base + (match["params"] or "").replace(" ", "")
    default = re.search(r"DEFAULT\s+(\S+)", match["rest"], re.IGNORECASE)
    parts = [match["name"], sql_type]
    parts += ["NOT NULL"] if "NOT NULL" in rest else []
    parts += [f"DEFAULT {default[1]}"] if default else []
    return " ".join(parts), False


def sqlite_ddl(mysql_ddl: str) -> str:
    """The SQLite twin of one of our MySQL ``CREATE TABLE`` statements: same columns and keys.

    The MySQL DDL is the one place a table's column types are written; the embedded default's
    table is derived from it, so the two cannot drift. Types map by family (whole numbers
    INTEGER, an exact decimal its exact text, the rest as written, which SQLite stores by
    affinity), comments and engine options are dropped, and a ``KEY`` becomes an index.
    """
    statement = _COMMENT.sub("", without_comments(mysql_ddl)).strip().rstrip(";").strip()
    create = _CREATE.match(statement)
    if create is None:
        raise ValueError(f"not a CREATE TABLE IF NOT EXISTS statement: {statement[:80]!r}")
    table = create["table"]
    lines, indexes, row_id = [], [], False
    for item in _top_level_items(create["body"]):
        key = _KEY.fullmatch(item)
        if key is None:
            column = _COLUMN.fullmatch(item)
            if column is None:
                raise ValueError(f"{table}: cannot read the column definition {item!r}")
            line, is_row_id = _sqlite_column(column)
            row_id = row_id or is_row_id
            lines.append(line)
            continue
        columns = key["cols"].replace("`", "")
        if key["kind"] == "PRIMARY KEY" and not row_id:
            lines.append(f"PRIMARY KEY ({columns})")
        elif key["kind"] == "UNIQUE KEY":
            lines.append(f"CONSTRAINT {key['name']} UNIQUE ({columns})")
        elif key["kind"] == "KEY":
            indexes.append(f"CREATE INDEX IF NOT EXISTS {key['name']} ON {table} ({columns});")
    body = ",\n".join(f"  {line}" for line in lines)
    return "\n".join([f"CREATE TABLE IF NOT EXISTS {table} (\n{body}\n);", *indexes])
