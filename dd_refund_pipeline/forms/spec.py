"""The form spec: one declarative file that says which Yida form to read and how it maps to a table.

A spec holds what the 轻易云 scheme's metadata held: the source form (appType, formUuid, userId,
the *name* of the variable holding the systemToken), the filters, the field formats
(``formatResponse``) and the target table's columns with their Chinese labels. It is validated
when loaded, against the table's DDL in ``sql/``: a typo fails with the spec's name and the
field, before anything talks to DingTalk or the database. A second form is a second YAML file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from dd_refund_pipeline.sqlfiles import read_sql

FORMS_DIR = Path(__file__).resolve().parent
INSTANCE_PREFIX = "instance."
# The scheme's value formats we implement (the 轻易云 names).
FORMATS = frozenset({"date", "dateTime", "string", "intval", "amount"})
# Validity rules a target column may carry (checked on the stored rows after each load), and the
# suffix of the check each one becomes: ``amount`` + ``positive`` → ``amount_positive``.
RULE_CHECKS = {"pattern": "shaped", "positive": "positive", "in_range": "in_range"}
# The earliest date a form can carry (the ``in_range`` rule's default lower bound).
EARLIEST_DAY = date(2000, 1, 1)
# The SQL types of each family: how the transform casts a value, how a day file stores it, and
# what an adopted table's column may be instead. Nowhere else names SQL types.
INTEGER_TYPES = ("INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT")
TIME_TYPES = ("DATETIME", "TIMESTAMP", "DATE")
TEXT_TYPES = ("VARCHAR", "CHAR")
TYPE_FAMILIES = {
    **{name: "integer" for name in INTEGER_TYPES},
    **{name: "time" for name in TIME_TYPES},
    **{name: "text" for name in TEXT_TYPES},
    "DECIMAL": "decimal",
}
_TEMPLATE_PART = re.compile(r"(\{[^{}]+\})")
_DDL_COLUMN = re.compile(
    r"^\s*`(?P<name>\w+)`\s+(?P<type>[A-Z]+(?:\(\s*\d+(?:\s*,\s*\d+)?\s*\))?)"
    r"(?P<rest>[^\n]*)",
    re.MULTILINE,
)


class SpecError(ValueError):
    """A form spec that cannot be used; the message names the spec and the field."""


@dataclass(frozen=True)
class SourceField:
    """One component of the Yida form, as its designer configured it.

    ``options`` (choice name → share of forms, for select and radio components), ``prefix``
    (serial numbers) and ``maximum`` (number components) describe the component itself: the
    emulator generates a form's instances from them, so a new form needs no generator code.
    """

    id: str
    label: str
    kind: str
    options: dict[str, float] = field(default_factory=dict)
    prefix: str = ""
    maximum: float = 20000.0
    # A sub-table's (``kind: table``) own components: each form holds rows of them, which no
    # column can map (one table row is one form).
    children: dict[str, SourceField] = field(default_factory=dict)


@dataclass(frozen=True)
class FormSource:
    """Which Yida form to read, as whom."""

    app_type: str
    form_uuid: str
    user_id: str
    language: str
    system_token_env: str
    fields: dict[str, SourceField]
    # What Yida calls one instance ("付款退款申请"): titles read "<originator>发起的<form_name>".
    form_name: str = ""

    def field_of_kind(self, kind: str) -> SourceField | None:
        """The first component of ``kind`` (``serial``, ``date``, …), if the spec reads one."""
        return next((f for f in self.fields.values() if f.kind == kind), None)

    def sub_table_of(self, field_id: str) -> SourceField | None:
        """The sub-table ``field_id`` is, or is a child component of; None for a plain field."""
        return next(
            (f for f in self.fields.values() if f.children and field_id in (f.id, *f.children)),
            None,
        )


@dataclass(frozen=True)
class Filters:
    """What ``GetInstances`` is asked for besides the create-time window."""

    search_fields: dict[str, Any]
    instance_status: str | None
    approved_result: str | None
    lookback_days: int


@dataclass(frozen=True)
class FieldFormat:
    """A ``formatResponse`` rule: field ``new`` is ``old`` in ``format``."""

    old: str
    new: str
    format: str


@dataclass(frozen=True)
class TableColumn:
    """A column of the target table, as its DDL declares it."""

    name: str
    sql_type: str
    nullable: bool

    @property
    def base_type(self) -> str:
        """The type without its parameters (``DECIMAL`` of ``DECIMAL(18,2)``)."""
        return self.sql_type.split("(", 1)[0]

    @property
    def family(self) -> str:
        """``integer``, ``decimal``, ``time``, ``text``, or ``other`` (TEXT and the like)."""
        return TYPE_FAMILIES.get(self.base_type, "other")

    @property
    def params(self) -> tuple[int, ...]:
        """The type's parameters (``(18, 2)`` of ``DECIMAL(18,2)``)."""
        inside = self.sql_type.partition("(")[2].rstrip(")")
        return tuple(int(part) for part in inside.split(",") if part.strip())


@dataclass(frozen=True)
class TargetColumn:
    """A column we write: a template over source fields, or a constant."""

    name: str
    label: str
    value: str
    format: str | None
    table_column: TableColumn
    # A regular expression every stored value should match (checked after each load).
    pattern: str | None = None
    # ``positive``: every stored value > 0; ``in_range``: a date between ``earliest`` and tomorrow.
    check: str | None = None
    earliest: date = EARLIEST_DAY

    @property
    def parts(self) -> list[str]:
        """Literal text and ``{ref}`` placeholders, in order."""
        return [part for part in _TEMPLATE_PART.split(self.value) if part]

    @property
    def refs(self) -> list[str]:
        """The fields the value template names, in order."""
        return [part[1:-1] for part in self.parts if _TEMPLATE_PART.fullmatch(part)]

    @property
    def is_constant(self) -> bool:
        """True when the column holds the same literal text on every row."""
        return not self.refs

    @property
    def rules(self) -> list[str]:
        """The validity rules on this column (``pattern``, ``positive``, ``in_range``)."""
        return (["pattern"] if self.pattern else []) + ([self.check] if self.check else [])


@dataclass(frozen=True)
class ValidityRule:
    """One validity rule of a target column, and the per-day check that applies it."""

    column: TargetColumn
    kind: str

    @property
    def check_name(self) -> str:
        """The asset check's name: the column and what it says (``<column>_shaped``)."""
        return f"{self.column.name}_{RULE_CHECKS[self.kind]}"

    @property
    def description(self) -> str:
        """What the check asserts about the day's stored rows, for the UI."""
        name = self.column.name
        if self.kind == "pattern":
            return f"Stored {name} matches {self.column.pattern} (WARN)."
        if self.kind == "positive":
            return f"Stored {name} of the day's rows is > 0 (WARN)."
        return f"Stored {name} lies between {self.column.earliest} and tomorrow (WARN)."


@dataclass(frozen=True)
class Target:
    """The table rows go to, keyed by ``key``."""

    table: str
    key: str
    columns: list[TargetColumn]
    table_columns: dict[str, TableColumn]

    @property
    def column_names(self) -> list[str]:
        """The columns we write, in the spec's order."""
        return [column.name for column in self.columns]

    def column(self, name: str) -> TargetColumn:
        """The target column ``name``."""
        return next(column for column in self.columns if column.name == name)

    @property
    def rejects_table(self) -> str:
        """Where records that cannot become rows go, with the reason."""
        return f"{self.table}_rejects"

    @property
    def sync_table(self) -> str:
        """The sync state kept beside the table (version, last seen, gone upstream)."""
        return f"{self.table}_sync"

    @property
    def rules(self) -> list[ValidityRule]:
        """Every validity rule of the spec, column by column."""
        return [ValidityRule(column, kind) for column in self.columns for kind in column.rules]

    @property
    def checked_columns(self) -> list[str]:
        """The key and each column a validity rule checks: what the checks read back."""
        checked = [rule.column.name for rule in self.rules]
        return [self.key, *dict.fromkeys(name for name in checked if name != self.key)]

    @property
    def key_check_name(self) -> str:
        """The whole-table uniqueness check: the key in snake case (``…_unique``)."""
        return f"{snake_case(self.key)}_unique"


@dataclass(frozen=True)
class FormSpec:
    """Everything one sync scheme needs to know."""

    name: str
    title: str
    source: FormSource
    filters: Filters
    formats: list[FieldFormat]
    target: Target
    # A worked example whose identifiers are made up: refused outside the demo and the tests.
    example: bool = False

    def format_for(self, field: str) -> FieldFormat | None:
        """The ``formatResponse`` rule that makes ``field``, if any."""
        return next((rule for rule in self.formats if rule.new == field), None)

    def value_format(self, column: TargetColumn) -> str | None:
        """The format of the column's value: its own, or that of the one field it copies."""
        if column.format or len(column.refs) != 1 or len(column.parts) != 1:
            return column.format
        rule = self.format_for(column.refs[0])
        return rule.format if rule else None

    def is_date_only(self, column: TargetColumn) -> bool:
        """True when ``column`` is exactly one field in the ``date`` format (a day, no time)."""
        if column.parts != [f"{{{ref}}}" for ref in column.refs] or len(column.refs) != 1:
            return False
        rule = self.format_for(column.refs[0])
        return rule is not None and rule.format == "date"


def snake_case(name: str) -> str:
    """``extendProcessInstanceId`` → ``extend_process_instance_id``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


# The keys each part of a spec may hold: anything else is a typo, named at load.
_KEYS = {
    "spec": ("name", "title", "example", "source", "filters", "formats", "target"),
    "source": (
        "app_type",
        "form_uuid",
        "user_id",
        "language",
        "form_name",
        "system_token_env",
        "fields",
    ),
    "field": ("label", "kind", "options", "prefix", "maximum", "children"),
    "filters": ("search_fields", "instance_status", "approved_result", "lookback_days"),
    "format": ("old", "new", "format"),
    "target": ("table", "key", "columns"),
    "column": ("name", "label", "value", "format", "pattern", "check", "earliest"),
}
# GetInstances' values (yida-api.md): a typo would match nothing, and under the delete policy
# empty the window's rows.
INSTANCE_STATUSES = ("COMPLETED", "ERROR", "RUNNING", "TERMINATED")
APPROVED_RESULTS = ("agree", "disagree")


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "mapping", list: "list", str: "text"}
    return names.get(type(value), type(value).__name__)


def _mapping(raw: Any, where: str, part: str | None = None) -> dict[str, Any]:
    """``raw`` as a mapping, or a SpecError naming what was expected.

    With ``part``, a key outside that part's known keys is an error too.
    """
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a mapping, got a {_kind(raw)}")
    if part is not None:
        unknown = sorted(str(key) for key in raw if key not in _KEYS[part])
        if unknown:
            raise SpecError(
                f"{where}: unknown key '{unknown[0]}' (known: {', '.join(_KEYS[part])})"
            )
    return raw


def _list(raw: Any, where: str) -> list[Any]:
    if not isinstance(raw, list):
        raise SpecError(f"{where}: expected a list, got a {_kind(raw)}")
    return raw


def _one_of(raw: Any, allowed: tuple[str, ...], where: str) -> str | None:
    if raw is None:
        return None
    if raw not in allowed:
        raise SpecError(f"{where}: {raw!r} is not one of Yida's ({', '.join(allowed)})")
    return str(raw)


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping or mapping[key] in (None, ""):
        raise SpecError(f"{where}: '{key}' is required")
    return mapping[key]


def parse_ddl_columns(ddl: str) -> dict[str, TableColumn]:
    """Columns of a ``CREATE TABLE`` in our MySQL DDL style (backquoted, one per line)."""
    return {
        match["name"]: TableColumn(
            match["name"], match["type"].replace(" ", ""), "NOT NULL" not in match["rest"]
        )
        for match in _DDL_COLUMN.finditer(ddl)
    }


def _source(raw: Any, where: str) -> FormSource:
    raw = _mapping(raw, where, "source")
    fields_raw = _mapping(_require(raw, "fields", where), f"{where}.fields")
    fields = {
        key: _source_field(key, value, f"{where}.fields.{key}") for key, value in fields_raw.items()
    }
    return FormSource(
        app_type=str(_require(raw, "app_type", where)),
        form_uuid=str(_require(raw, "form_uuid", where)),
        user_id=str(_require(raw, "user_id", where)),
        language=str(raw.get("language") or "zh_CN"),
        system_token_env=str(_require(raw, "system_token_env", where)),
        fields=fields,
        form_name=str(raw.get("form_name") or ""),
    )


def _source_field(key: str, raw: Any, where: str, nested: bool = False) -> SourceField:
    raw = _mapping(raw, where, "field")
    options = raw.get("options") or {} if isinstance(raw, dict) else {}
    if not isinstance(options, dict) or not all(
        isinstance(share, int | float) and share > 0 for share in options.values()
    ):
        raise SpecError(f"{where}.options: a mapping of choice → positive share")
    maximum = raw.get("maximum", 20000) if isinstance(raw, dict) else 20000
    if not isinstance(maximum, int | float) or maximum <= 0:
        raise SpecError(f"{where}.maximum: must be a positive number")
    children_raw = _mapping(raw.get("children") or {}, f"{where}.children")
    if children_raw and nested:
        raise SpecError(f"{where}.children: a sub-table's component holds no sub-table")
    children = {
        child: _source_field(child, value, f"{where}.children.{child}", nested=True)
        for child, value in children_raw.items()
    }
    return SourceField(
        key,
        str(_require(raw, "label", where)),
        str(_require(raw, "kind", where)),
        {str(name): float(share) for name, share in options.items()},
        str(raw.get("prefix") or ""),
        float(maximum),
        children,
    )


def _filters(raw: Any, where: str, source: FormSource) -> Filters:
    raw = _mapping(raw, where, "filters")
    search = dict(_mapping(raw.get("search_fields") or {}, f"{where}.search_fields"))
    for key in search:
        if key not in source.fields:
            raise SpecError(f"{where}.search_fields: '{key}' is not a field of source.fields")
    lookback = raw.get("lookback_days", 25) if isinstance(raw, dict) else 25
    if not isinstance(lookback, int) or lookback < 1:
        raise SpecError(f"{where}.lookback_days: must be a positive whole number")
    return Filters(
        search,
        _one_of(raw.get("instance_status"), INSTANCE_STATUSES, f"{where}.instance_status"),
        _one_of(raw.get("approved_result"), APPROVED_RESULTS, f"{where}.approved_result"),
        lookback,
    )


def _formats(raw: Any, where: str, source: FormSource) -> list[FieldFormat]:
    rules = []
    for index, item in enumerate(_list(raw or [], where)):
        here = f"{where}[{index}]"
        item = _mapping(item, here, "format")
        rule = FieldFormat(
            str(_require(item, "old", here)),
            str(_require(item, "new", here)),
            str(_require(item, "format", here)),
        )
        if rule.format not in FORMATS:
            raise SpecError(
                f"{here}: unknown format '{rule.format}' (known: {', '.join(sorted(FORMATS))})"
            )
        _refuse_sub_table(source, rule.old, here)
        if rule.old not in source.fields:
            raise SpecError(f"{here}: old field '{rule.old}' is not a field of source.fields")
        rules.append(rule)
    return rules


def _rule(item: dict[str, Any], where: str) -> str | None:
    check = item.get("check")
    if check is not None and check not in ("positive", "in_range"):
        raise SpecError(f"{where}.check: unknown rule '{check}' (known: positive, in_range)")
    return check


def _earliest(item: dict[str, Any], where: str) -> date:
    raw = item.get("earliest", EARLIEST_DAY)
    try:
        return raw if isinstance(raw, date) else date.fromisoformat(str(raw))
    except ValueError:
        raise SpecError(f"{where}.earliest: '{raw}' is not a date (YYYY-MM-DD)") from None


def _target(
    raw: Any, where: str, source: FormSource, known_refs: set[str], ddl: str | None
) -> Target:
    raw = _mapping(raw, where, "target")
    table = str(_require(raw, "table", where))
    if not re.fullmatch(r"\w+", table):
        raise SpecError(f"{where}.table: '{table}' is not a plain table name")
    table_columns = parse_ddl_columns(ddl if ddl is not None else read_sql(f"{table}.sql"))
    columns = []
    for index, item in enumerate(_list(_require(raw, "columns", where), f"{where}.columns")):
        here = f"{where}.columns[{index}]"
        item = _mapping(item, here, "column")
        name = str(_require(item, "name", here))
        if name not in table_columns:
            raise SpecError(
                f"{here}: '{name}' is not a column of {table} "
                f"(sql/{table}.sql has: {', '.join(table_columns)})"
            )
        column_format = item.get("format")
        if column_format is not None and column_format not in FORMATS:
            raise SpecError(f"{here}: unknown format '{column_format}'")
        pattern = item.get("pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise SpecError(
                    f"{here}: pattern {pattern!r} is not a regular expression: {exc}"
                ) from None
        column = TargetColumn(
            name,
            str(item.get("label") or name),
            str(_require(item, "value", here)),
            column_format,
            table_columns[name],
            pattern,
            _rule(item, here),
            _earliest(item, here),
        )
        for ref in column.refs:
            _refuse_sub_table(source, ref, here)
            if ref not in known_refs and not ref.startswith(INSTANCE_PREFIX):
                raise SpecError(
                    f"{here}: '{{{ref}}}' names no field (known: "
                    f"{', '.join(sorted(known_refs))}, or instance.<key>)"
                )
        columns.append(column)
    key = str(_require(raw, "key", where))
    if key not in {column.name for column in columns}:
        raise SpecError(f"{where}.key: '{key}' is not one of the target columns")
    return Target(table, key, columns, table_columns)


def _refuse_sub_table(source: FormSource, ref: str, where: str) -> None:
    """A column reading a sub-table, or a component of one, has no single value to hold."""
    table = source.sub_table_of(ref)
    if table is not None:
        raise SpecError(
            f"{where}: '{{{ref}}}' is in the sub-table {table.id} ({table.label}), which is not "
            "mapped: a form holds any number of its rows and one table row is one form"
        )


def parse_form_spec(raw: Any, origin: str, table_ddl: str | None = None) -> FormSpec:
    """Validate a spec's parsed YAML; ``origin`` (its file) names it in every error.

    Against its table's DDL in ``sql/``, or ``table_ddl`` (a table being written).
    """
    raw = _mapping(raw, f"form spec {origin}")
    name = str(raw.get("name") or Path(origin).stem)
    where = f"form spec {name} ({origin})"
    _mapping(raw, where, "spec")
    source = _source(_require(raw, "source", where), f"{where}: source")
    filters = _filters(raw.get("filters") or {}, f"{where}: filters", source)
    formats = _formats(raw.get("formats"), f"{where}: formats", source)
    known = set(source.fields) | {rule.new for rule in formats}
    target = _target(_require(raw, "target", where), f"{where}: target", source, known, table_ddl)
    example = raw.get("example", False)
    if not isinstance(example, bool):
        raise SpecError(f"{where}: example: expected true or false, got {example!r}")
    spec = FormSpec(
        name, str(raw.get("title") or name), source, filters, formats, target, example=example
    )
    for column in target.columns:
        _check_rule_fits(spec, column, f"{where}: target.columns.{column.name}")
    return spec


def _check_rule_fits(spec: FormSpec, column: TargetColumn, where: str) -> None:
    value_format = spec.value_format(column)
    if column.check == "in_range" and value_format not in ("date", "dateTime"):
        raise SpecError(f"{where}: 'in_range' needs a date or dateTime value, not {value_format}")
    if column.check == "positive" and value_format not in ("amount", "intval"):
        raise SpecError(f"{where}: 'positive' needs an amount or intval value, not {value_format}")


def load_form_spec(name_or_path: str | Path, table_ddl: str | None = None) -> FormSpec:
    """Load ``forms/<name>.yaml`` (or a YAML path) and validate it (``parse_form_spec``)."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = FORMS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise SpecError(f"form spec {name_or_path}: no such file {path}")
    with path.open(encoding="utf-8") as handle:
        return parse_form_spec(yaml.safe_load(handle), str(path), table_ddl)
