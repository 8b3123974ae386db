"""A new form's table, written from its spec: the columns' types follow what each one holds.

For a form whose table does not exist yet (``make add-form``, ``make form-table``). An existing
finance table is the team's: it is adopted as it is (``make adopt``), never rewritten here.

The types: the key ``VARCHAR(64)``; a date ``DATE``, a date and time ``DATETIME``; an amount
``DECIMAL(18,2)``, a whole number ``BIGINT``; a numeric constant ``INT``; a serial number, a
text constant or an instance value ``VARCHAR(64)``; typed text ``VARCHAR(1000)``, any other
text ``VARCHAR(255)``. A column is
``NOT NULL`` when every form has it (the key, constants, instance values) or when a validity
rule checks it; the rest may be NULL, so a form without that field still loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Marks a DDL file this module wrote: only such a file is written again.
WRITTEN_MARK = "-- Written from the form spec by make add-form / make form-table."
_REF = re.compile(r"\{([^{}]+)\}")
_TYPES = {
    "date": "DATE",
    "dateTime": "DATETIME",
    "amount": "DECIMAL(18,2)",
    "intval": "BIGINT",
}


@dataclass(frozen=True)
class DesignedColumn:
    """One column of the proposed table."""

    name: str
    sql_type: str
    not_null: bool
    label: str


def _column_type(
    column: Mapping[str, Any], formats: Mapping[str, str], kinds: Mapping[str, str]
) -> tuple[str, bool]:
    """The column's SQL type, and whether every form has a value for it."""
    value = str(column.get("value") or "")
    refs = _REF.findall(value)
    whole = len(refs) == 1 and value == f"{{{refs[0]}}}"
    fmt = column.get("format") or (formats.get(refs[0]) if whole else None)
    if fmt in _TYPES:
        return _TYPES[fmt], False
    if not refs:
        return ("INT" if value.isdigit() else "VARCHAR(64)"), True
    if all(ref.startswith("instance.") for ref in refs):
        return "VARCHAR(64)", True
    if any(kinds.get(ref) == "serial" for ref in refs):
        return "VARCHAR(64)", False
    # What a person types (事由, 备注) runs longer than a choice or a code.
    typed = any(kinds.get(ref) in ("text", "textarea") for ref in refs)
    return ("VARCHAR(1000)" if typed else "VARCHAR(255)"), False


def design(raw_spec: Mapping[str, Any]) -> tuple[str, str, list[DesignedColumn]]:
    """The table name, key and columns a spec (its parsed YAML) asks for."""
    source, target = raw_spec["source"], raw_spec["target"]
    kinds = {key: str(value.get("kind")) for key, value in source["fields"].items()}
    formats = {str(rule["new"]): str(rule["format"]) for rule in raw_spec.get("formats") or []}
    # A field made by a format rule is a serial when its old field is.
    for rule in raw_spec.get("formats") or []:
        kinds.setdefault(str(rule["new"]), kinds.get(str(rule["old"]), ""))
    key = str(target["key"])
    columns = []
    for column in target["columns"]:
        sql_type, always = _column_type(column, formats, kinds)
        name = str(column["name"])
        checked = bool(column.get("pattern") or column.get("check"))
        columns.append(
            DesignedColumn(
                name,
                "VARCHAR(64)" if name == key else sql_type,
                name == key or always or checked,
                str(column.get("label") or name),
            )
        )
    return str(target["table"]), key, columns


def _comment(text: str) -> str:
    """A label as one line of a quoted SQL comment (no statement ends inside it)."""
    line = " ".join(text.split()).replace(";", "；")
    return line.replace("\\", "\\\\").replace("'", "''")


def _date_column(columns: list[DesignedColumn]) -> str | None:
    """The column the day checks read by (the first date), indexed."""
    return next((c.name for c in columns if c.sql_type in ("DATE", "DATETIME")), None)


def mysql_ddl(raw_spec: Mapping[str, Any]) -> str:
    """``<table>.sql``: the table for MySQL 8 / MariaDB 10.6+, comments from the labels.

    The embedded SQLite default's table is derived from it (``sqlfiles.sqlite_ddl``).
    """
    table, key, columns = design(raw_spec)
    lines = ["  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,"]
    for column in columns:
        null = "NOT NULL" if column.not_null else "NULL"
        lines.append(
            f"  `{column.name}` {column.sql_type} {null} COMMENT '{_comment(column.label)}',"
        )
    lines += [
        "  `created_at` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT '首次写入时间',",
        "  `updated_at` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP",
        "    COMMENT '最后变更时间',",
        "  PRIMARY KEY (`id`),",
        f"  UNIQUE KEY `uk_{table}_process_instance` (`{key}`)",
    ]
    dated = _date_column(columns)
    if dated:
        lines[-1] += ","
        lines.append(f"  KEY `ix_{table}_{dated}` (`{dated}`)")
    title = _comment(str(raw_spec.get("title") or table))
    return (
        f"{WRITTEN_MARK}\n-- {table}: {title}. One row per process instance.\n"
        f"CREATE TABLE IF NOT EXISTS `{table}` (\n"
        + "\n".join(lines)
        + "\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci\n"
        + f"  COMMENT='{title}';\n"
    )
