"""The project's SQL, kept as files in ``sql/``: identifiers fixed there, values always bound."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
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


# The SQL types of each family: how the transform casts a value, how a day file stores it, what
# an adopted table's column may be instead, and how SQLite stores it. Nowhere else names SQL types.
INTEGER_TYPES = ("INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT")
TIME_TYPES = ("DATETIME", "TIMESTAMP", "DATE")
TEXT_TYPES = ("VARCHAR", "CHAR")
TYPE_FAMILIES = {
    **{name: "integer" for name in INTEGER_TYPES},
    **{name: "time" for name in TIME_TYPES},
    **{name: "text" for name in TEXT_TYPES},
    "DECIMAL": "decimal",
}
# The families whose SQLite type differs: SQLite has no exact decimal (DECIMAL would keep the
# amount as a binary float, so it is its exact text, '1280.50'), and a rowid alias must be INTEGER.
_SQLITE_TYPES = {"integer": "INTEGER", "decimal": "TEXT"}
_COMMENT = re.compile(r"\s+COMMENT\s*=?\s*'(?:[^']|'')*'", re.IGNORECASE)
_CREATE = re.compile(
    r"CREATE TABLE (?:IF NOT EXISTS\s+)?`?(?P<table>[\w{}]+)`?\s*\((?P<body>.*)\)[^)]*$",
    re.DOTALL,
)
_KEY = re.compile(
    r"(?P<kind>PRIMARY KEY|UNIQUE KEY|KEY)\s*(?:`?(?P<name>[\w{}]+)`?)?\s*\((?P<cols>.*)\)"
)
_COLUMN = re.compile(
    r"`?(?P<name>[\w{}]+)`?\s+(?P<type>[A-Z]+)(?P<params>\([\d,\s]*\))?(?P<rest>.*)"
)


@dataclass(frozen=True)
class DeclaredColumn:
    """A column as one of our MySQL ``CREATE TABLE`` statements declares it."""

    name: str
    sql_type: str  # with its parameters: ``DECIMAL(18,2)``
    nullable: bool
    options: str  # what follows the type: ``UNSIGNED NOT NULL AUTO_INCREMENT``, a DEFAULT

    @property
    def base_type(self) -> str:
        """The type without its parameters (``DECIMAL`` of ``DECIMAL(18,2)``)."""
        return self.sql_type.split("(", 1)[0]


def _table_items(mysql_ddl: str) -> tuple[str, list[str]]:
    """The table's name and the comma-separated items of its body (comments dropped)."""
    statement = _COMMENT.sub("", without_comments(mysql_ddl)).strip().rstrip(";").strip()
    create = _CREATE.match(statement)
    if create is None:
        raise ValueError(f"not a CREATE TABLE statement: {statement[:80]!r}")
    items, depth, start, body = [], 0, 0, create["body"]
    for index, char in enumerate(body):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(body[start:index].strip())
            start = index + 1
    items.append(body[start:].strip())
    return create["table"], [item for item in items if item]


def _declared(table: str, item: str) -> DeclaredColumn:
    column = _COLUMN.fullmatch(item)
    if column is None:
        raise ValueError(f"{table}: cannot read the column definition {item!r}")
    sql_type = column["type"] + (column["params"] or "").replace(" ", "")
    rest = column["rest"].strip()
    return DeclaredColumn(column["name"], sql_type, "NOT NULL" not in rest.upper(), rest)


def ddl_columns(mysql_ddl: str) -> list[DeclaredColumn]:
    """The columns of one of our MySQL ``CREATE TABLE`` statements, in order.

    The one reader of a table's DDL: the spec's column types and the SQLite twin both come from it.
    """
    table, items = _table_items(mysql_ddl)
    return [_declared(table, item) for item in items if _KEY.fullmatch(item) is None]


def _sqlite_column(column: DeclaredColumn) -> str:
    """A column definition for SQLite."""
    if "AUTO_INCREMENT" in column.options.upper():
        return f"{column.name} INTEGER PRIMARY KEY AUTOINCREMENT"
    family = TYPE_FAMILIES.get(column.base_type, "other")
    default = re.search(r"DEFAULT\s+(\S+)", column.options, re.IGNORECASE)
    parts = [column.name, _SQLITE_TYPES.get(family, column.sql_type)]
    parts += [] if column.nullable else ["NOT NULL"]
    parts += [f"DEFAULT {default[1]}"] if default else []
    return " ".join(parts)


def sqlite_ddl(mysql_ddl: str) -> str:
    """The SQLite twin of one of our MySQL ``CREATE TABLE`` statements: same columns and keys.

    The MySQL DDL is the one place a table's column types are written; the embedded default's
    table is derived from it, so the two cannot drift. Types map by family (whole numbers
    INTEGER, an exact decimal its exact text, the rest as written, which SQLite stores by
    affinity), comments and engine options are dropped, and a ``KEY`` becomes an index.
    """
    table, items = _table_items(mysql_ddl)
    lines, indexes, row_id = [], [], False
    for item in items:
        key = _KEY.fullmatch(item)
        if key is None:
            column = _declared(table, item)
            row_id = row_id or "AUTO_INCREMENT" in column.options.upper()
            lines.append(_sqlite_column(column))
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
