"""An existing target table, compared with what we write: which differences we can write into.

A finance team's ``hc_dd_fktk`` was created by someone else (the 轻易云 scheme, a DBA) and is
theirs: we never drop or retype its columns. What we can write into as it is, we do, each
value exact or quarantined with a reason; what we cannot is named precisely, with what to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import sqlalchemy as sa

from dd_refund_pipeline.forms.spec import FormSpec, TableColumn, TargetColumn

Verdict = Literal["same", "writable", "blocking"]


@dataclass(frozen=True)
class ColumnFinding:
    """One column of the existing table next to ours."""

    name: str
    theirs: str  # the type as the database reports it, or "missing"
    ours: str  # our DDL's type, or "" for a column we do not write
    verdict: Verdict
    reason: str = ""


def _decimal(column_type: Any) -> tuple[int, int] | None:
    precision, scale = getattr(column_type, "precision", None), getattr(column_type, "scale", None)
    if isinstance(column_type, sa.Float) or not isinstance(column_type, sa.Numeric):
        return None
    if precision is None or scale is None:
        return None
    return int(precision), int(scale)


def _type_text(column_type: Any) -> str:
    try:
        return str(column_type.compile())
    except Exception:  # a dialect-specific type without a generic rendering
        return type(column_type).__name__


def _string_length(column_type: Any) -> int | None:
    """The length of a string column; None for unbounded text."""
    return getattr(column_type, "length", None)


def _versus_text(wanted: TableColumn, column_type: Any) -> tuple[Verdict, str]:
    length, ours = _string_length(column_type), wanted.params[0] if wanted.params else None
    if not isinstance(column_type, sa.String):
        return "blocking", f"is not text; values are text of up to {ours} characters"
    if ours is None or length is None or length >= ours:
        return ("same" if length == ours else "writable"), ""
    return "writable", f"values longer than {length} characters are quarantined as rejects"


def _versus_decimal(wanted: TableColumn, column_type: Any) -> tuple[Verdict, str]:
    precision, scale = (*wanted.params, 18, 2)[:2]
    if isinstance(column_type, sa.Float):
        return "blocking", "binary floating point cannot hold amounts such as 17832.68 exactly"
    held = _decimal(column_type)
    if held is not None:
        if held == (precision, scale):
            return "same", ""
        if held[1] < scale:
            return "blocking", f"holds {held[1]} decimal places; amounts have up to {scale}"
        integer_digits = held[0] - held[1]
        note = f"written exactly with up to {held[1]} places"
        if integer_digits < precision - scale:
            note += f"; amounts of {integer_digits + 1}+ integer digits are quarantined"
        return "writable", note
    if isinstance(column_type, sa.String):
        length = _string_length(column_type)
        if length is None or length >= precision + 2:
            return "writable", "amounts are stored as their exact decimal text"
        return "blocking", f"text of {length} characters cannot hold every DECIMAL({precision},2)"
    return "blocking", f"cannot hold amounts exactly (ours: DECIMAL({precision},{scale}))"


def _versus_datetime(
    column: TargetColumn, column_type: Any, date_only: bool
) -> tuple[Verdict, str]:
    if isinstance(column_type, sa.DateTime):
        return (
            "same" if column.table_column.base_type in _type_text(column_type) else "writable"
        ), ""
    if isinstance(column_type, sa.Date):
        if date_only:
            return "writable", "a date-only mapping: the day is written, as the form holds it"
        return "blocking", "is DATE but the mapping carries a time of day, which would be cut"
    return "blocking", "is not a date or time column"


def _versus_integer(column_type: Any) -> tuple[Verdict, str]:
    if isinstance(column_type, sa.Integer):
        return "same", ""
    if isinstance(column_type, sa.String):
        return "writable", "whole numbers are stored as text"
    held = _decimal(column_type)
    if held is not None:
        return "writable", ""
    return "blocking", "cannot hold whole numbers exactly"


def judge(column: TargetColumn, existing: Mapping[str, Any], date_only: bool) -> ColumnFinding:
    """Whether an existing column can hold what we write into it, and how."""
    wanted, column_type = column.table_column, existing["type"]
    kind = wanted.family
    if kind == "text":
        verdict, reason = _versus_text(wanted, column_type)
    elif kind == "decimal":
        verdict, reason = _versus_decimal(wanted, column_type)
    elif kind == "time":
        verdict, reason = _versus_datetime(column, column_type, date_only)
    elif kind == "integer":
        verdict, reason = _versus_integer(column_type)
    else:
        verdict, reason = "blocking", f"our type {wanted.sql_type} has no compatibility rule"
    return ColumnFinding(column.name, _type_text(column_type), wanted.sql_type, verdict, reason)


def _unwritten(existing: Mapping[str, Any]) -> ColumnFinding:
    """A column of theirs we never write: fine unless an insert cannot leave it out."""
    name, text = existing["name"], _type_text(existing["type"])
    required = (
        not existing.get("nullable", True)
        and existing.get("default") is None
        and not existing.get("autoincrement")
        and not existing.get("computed")
    )
    if required:
        return ColumnFinding(
            name, text, "", "blocking", "NOT NULL without a default: our inserts do not set it"
        )
    return ColumnFinding(name, text, "", "same", "theirs; kept and never written")


def compare_columns(
    spec: FormSpec, existing: Sequence[Mapping[str, Any]], written: list[str] | None = None
) -> list[ColumnFinding]:
    """Every column we write and every column of theirs, each with a verdict."""
    by_name = {column["name"]: column for column in existing}
    written = written if written is not None else spec.target.column_names
    findings = []
    for name in written:
        ours = spec.target.column(name)
        if name not in by_name:
            findings.append(
                ColumnFinding(name, "missing", ours.table_column.sql_type, "blocking", "missing")
            )
            continue
        findings.append(judge(ours, by_name[name], spec.is_date_only(ours)))
    findings += [_unwritten(column) for column in existing if column["name"] not in written]
    return findings


def fitted_column(column: TargetColumn, existing: Mapping[str, Any] | None) -> TargetColumn:
    """``column`` with the limits of the existing column it goes to.

    Values are then checked (and quarantined) against what the table really holds: a
    DECIMAL(18,4) takes 0.005 and ours would not, a VARCHAR(40) cannot take 41 characters, a
    DATE keeps the day. No value is ever rounded or cut on its way in.
    """
    if existing is None:
        return column
    column_type, wanted = existing["type"], column.table_column
    sql_type = wanted.sql_type
    held = _decimal(column_type)
    if wanted.family == "decimal" and held is not None:
        sql_type = f"DECIMAL({held[0]},{held[1]})"
    length = _string_length(column_type) if isinstance(column_type, sa.String) else None
    if wanted.family == "text" and length is not None and wanted.params:
        sql_type = f"{wanted.base_type}({min(length, wanted.params[0])})"
    if wanted.base_type != "DATE" and wanted.family == "time" and isinstance(column_type, sa.Date):
        sql_type = "DATE"
    if sql_type == wanted.sql_type:
        return column
    return replace(column, table_column=replace(wanted, sql_type=sql_type))
