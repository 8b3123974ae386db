"""A form's SQL: the statements in ``sql/``, with the identifiers of its validated spec.

The statements are the same for every form; what differs is the table, its key, its columns and
its date column. Those come from the spec, which was validated against the table's DDL, and are
checked again here to be plain identifiers before they are put into the text. Values are never
put into SQL text: they stay ``:name`` parameters and are bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dd_refund_pipeline.forms.spec import FormSpec
from dd_refund_pipeline.sqlfiles import ddl_for, read_sql

# The columns of every form's rejects table (sql/rejects_table.sql): what a reject says.
REJECT_COLUMNS = [
    "record_key",
    "process_instance_id",
    "partition_date",
    "field",
    "reason",
    "raw_value",
    # What a person can look the form up by in Yida when it has no usable id.
    "serial_number",
    "title",
    "originator",
    "created_at",
]
# What a cleaned row brings besides its columns: the sync state's facts of the copy (its creation
# day, modifiedTimeGMT and version), written to the form's sync table with the row.
LINEAGE_COLUMNS = ["partition_date", "source_modified_time", "source_version"]
_IDENTIFIER = re.compile(r"^\w+$")


def _quoted(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


@dataclass(frozen=True)
class FormTables:
    """The three tables of one form (rows, rejects, sync state) and the statements over them."""

    table: str
    rejects: str
    sync: str
    key: str
    columns: tuple[str, ...]
    checked: tuple[str, ...]
    date_column: str
    # The form's table's MySQL DDL (``<table>.sql`` in its folder).
    ddl: str = ""

    @classmethod
    def of(cls, spec: FormSpec) -> FormTables:
        """The tables of ``spec``; its identifiers are checked to be plain names."""
        target = spec.target
        dated = [c.name for c in target.columns if spec.value_format(c) in ("date", "dateTime")]
        tables = cls(
            table=target.table,
            rejects=target.rejects_table,
            sync=target.sync_table,
            key=target.key,
            columns=tuple(target.column_names),
            checked=tuple(target.checked_columns),
            date_column=dated[0] if dated else target.key,
            ddl=target.ddl,
        )
        names = [tables.table, tables.rejects, tables.sync, *tables.columns, tables.date_column]
        bad = [name for name in names if not _IDENTIFIER.fullmatch(name)]
        if bad:
            raise ValueError(f"not plain SQL identifiers: {', '.join(bad)}")
        return tables

    def ddl_name(self, table: str) -> str:
        """Where a person reads the DDL of one of the form's tables."""
        shared = {self.rejects: "sql/rejects_table.sql", self.sync: "sql/sync_table.sql"}
        return shared.get(table, f"the form's {table}.sql")

    def create_sql(self, table: str, dialect: str) -> str:
        """The ``CREATE TABLE`` of one of the form's tables for ``dialect`` (SQLite's derived).

        The form's table from its DDL in the form's folder; the rejects and sync tables from
        ``sql/``, named after it.
        """
        shared = {self.rejects: "rejects_table.sql", self.sync: "sync_table.sql"}.get(table)
        return ddl_for(self.sql(shared) if shared else self.ddl, dialect)

    def sql(self, name: str) -> str:
        """``sql/<name>`` with this form's identifiers in place of its ``{placeholders}``."""
        others = [c for c in self.columns if c != self.key]
        shown = [c for c in self.checked if c != self.key]
        staged = [*self.columns, *LINEAGE_COLUMNS]
        return read_sql(name).format(
            table=self.table,
            stage_table=f"{self.table}_stage",
            stage_select=", ".join(
                [*(f"t.`{c}`" for c in self.columns), *(f"y.`{c}`" for c in LINEAGE_COLUMNS)]
            ),
            stage_columns=_quoted(staged),
            stage_values=", ".join(f":{c}" for c in staged),
            stage_row_columns=", ".join(f"s.`{c}`" for c in self.columns),
            sync_guard=read_sql("sync_guard.mysql.sql").format(sync_table=self.sync),
            rejects_table=self.rejects,
            sync_table=self.sync,
            key=self.key,
            date_column=self.date_column,
            columns=_quoted(list(self.columns)),
            values=", ".join(f":{c}" for c in self.columns),
            checked_columns=_quoted(list(self.checked)),
            shown_columns=_quoted(shown) if shown else "NULL AS nothing_checked",
            # The table's columns named with it: from the stage, same-named columns are in scope.
            mysql_updates=",\n  ".join(f"`{self.table}`.`{c}` = VALUES(`{c}`)" for c in others),
            sqlite_updates=",\n  ".join(f"`{c}` = excluded.`{c}`" for c in others),
            sqlite_changed="\n   OR ".join(f"`{c}` IS NOT excluded.`{c}`" for c in others),
        )
