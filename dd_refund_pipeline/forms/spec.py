"""The form spec, resolved: the Yida form to read and how it maps to a table whose DDL is known.

A form is one folder (``dd_refund_pipeline/defs/<form>/``): its ``defs.yaml`` holds the spec
(``spec:``, typed by ``forms/spec_model.py``) beside the names Dagster shows, and ``<table>.sql``
beside it is the table's DDL for MySQL, the one place the columns' types are written (the
SQLite table is derived from it). Resolving a spec checks it against that DDL: a typo fails with
the form's file and the field, before anything talks to DingTalk or the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import ValidationError

from dd_refund_pipeline.forms.spec_model import (
    EARLIEST_DAY,
    ColumnModel,
    FormSpecModel,
    SubTableComponent,
    template_parts,
    template_refs,
    value_format,
)
from dd_refund_pipeline.sqlfiles import TYPE_FAMILIES, ddl_columns

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# Where forms live: the code location's, and the worked examples' (on only for the demo).
DEFS_DIR = PACKAGE_DIR / "defs"
EXAMPLES_DIR = PACKAGE_DIR / "examples"
FORM_FILE = "defs.yaml"
# Validity rules a target column may carry (checked on the stored rows after each load), and the
# suffix of the check each one becomes: ``amount`` + ``positive`` → ``amount_positive``.
RULE_CHECKS = {"pattern": "shaped", "positive": "positive", "in_range": "in_range"}


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
        return template_parts(self.value)

    @property
    def refs(self) -> list[str]:
        """The fields the value template names, in order."""
        return template_refs(self.value)

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
    # The table's DDL for MySQL (``<table>.sql`` in the form's folder): what creates it.
    ddl: str = ""

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
        made_by = {rule.new: rule.format for rule in self.formats}
        return value_format(column.value, column.format, made_by)

    def is_date_only(self, column: TargetColumn) -> bool:
        """True when ``column`` is exactly one field in the ``date`` format (a day, no time)."""
        if column.parts != [f"{{{ref}}}" for ref in column.refs] or len(column.refs) != 1:
            return False
        rule = self.format_for(column.refs[0])
        return rule is not None and rule.format == "date"


def snake_case(name: str) -> str:
    """``extendProcessInstanceId`` → ``extend_process_instance_id``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def parse_ddl_columns(ddl: str) -> dict[str, TableColumn]:
    """Columns of one of our MySQL ``CREATE TABLE`` statements (``sqlfiles.ddl_columns``)."""
    return {
        column.name: TableColumn(column.name, column.sql_type, column.nullable)
        for column in ddl_columns(ddl)
    }


def _source_field(key: str, model: SubTableComponent) -> SourceField:
    children = getattr(model, "children", {})
    return SourceField(
        key,
        model.label,
        model.kind,
        dict(model.options),
        model.prefix,
        float(model.maximum),
        {child: _source_field(child, value) for child, value in children.items()},
    )


def _target_column(
    model: ColumnModel, table: str, table_columns: dict[str, TableColumn], where: str
) -> TargetColumn:
    if model.name not in table_columns:
        raise SpecError(
            f"{where}: '{model.name}' is not a column of {table} "
            f"({table}.sql has: {', '.join(table_columns)})"
        )
    return TargetColumn(
        model.name,
        model.label or model.name,
        model.value,
        model.format,
        table_columns[model.name],
        model.pattern,
        model.check,
        date.fromisoformat(model.earliest),
    )


def resolve_spec(name: str, model: FormSpecModel, table_ddl: str, origin: str) -> FormSpec:
    """The spec ``model`` of form ``name`` against its table's DDL; ``origin`` names its file."""
    where = f"form spec {name} ({origin}): target"
    target = model.target
    try:
        table_columns = parse_ddl_columns(table_ddl)
    except ValueError as exc:
        raise SpecError(f"{where}.table: its DDL {target.table}.sql: {exc}") from None
    columns = [
        _target_column(column, target.table, table_columns, f"{where}.columns[{index}]")
        for index, column in enumerate(target.columns)
    ]
    source = model.source
    filters = model.filters
    return FormSpec(
        name=name,
        title=model.title or name,
        source=FormSource(
            app_type=source.app_type,
            form_uuid=source.form_uuid,
            user_id=source.user_id,
            language=source.language,
            system_token_env=source.system_token_env,
            fields={key: _source_field(key, value) for key, value in source.fields.items()},
            form_name=source.form_name,
        ),
        filters=Filters(
            dict(filters.search_fields),
            filters.instance_status,
            filters.approved_result,
            filters.lookback_days,
        ),
        formats=[FieldFormat(rule.old, rule.new, rule.format) for rule in model.formats],
        target=Target(target.table, target.key, columns, table_columns, table_ddl),
        example=model.example,
    )


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the spec's part at ``loc`` may hold (for an unknown key's message)."""
    model: Any = FormSpecModel
    for part in loc:
        field_info = getattr(model, "model_fields", {}).get(part)
        if field_info is not None:
            # Model, Model | None, dict[str, Model], list[Model]: the model inside.
            model = _model_in(field_info.annotation)
    return list(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    if hasattr(annotation, "model_fields"):
        return annotation
    return next((a for a in get_args(annotation) if hasattr(a, "model_fields")), annotation)


def validation_message(exc: ValidationError, prefix: str = "") -> str:
    """Pydantic's errors as ``field.path: what was expected``, one per line."""
    lines = []
    for error in exc.errors():
        path = prefix
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f"{'.' if path else ''}{part}"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message += f" (known here: {', '.join(_known_keys(tuple(error['loc'][:-1])))})"
        lines.append(f"{path}: {message}" if path else message)
    return "; ".join(lines)


def parse_form_spec(
    name: str, raw: Any, origin: str, table_ddl: str | None = None, folder: Path | None = None
) -> FormSpec:
    """Validate form ``name``'s ``spec:`` (parsed YAML, or its model); ``origin`` names its file.

    Against ``table_ddl`` (a table being written) or ``<table>.sql`` in ``folder``.
    """
    try:
        # A model Dagster already validated (the component's attribute) is taken as it is.
        model = raw if isinstance(raw, FormSpecModel) else FormSpecModel.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(f"form spec {name} ({origin}): {validation_message(exc, 'spec')}") from None
    if table_ddl is None:
        ddl_path = (folder or Path(origin).parent) / f"{model.target.table}.sql"
        if not ddl_path.is_file():
            raise SpecError(
                f"form spec {name} ({origin}): target.table {model.target.table} has no DDL "
                f"{ddl_path} (make form-table NAME={name} writes one)"
            )
        table_ddl = ddl_path.read_text(encoding="utf-8")
    return resolve_spec(name, model, table_ddl, origin)


def form_folder(name: str) -> Path:
    """The folder of form ``name``: ``defs/<name>``, or a worked example's."""
    for parent in (DEFS_DIR, EXAMPLES_DIR):
        if (parent / name / FORM_FILE).is_file():
            return parent / name
    found = (DEFS_DIR.glob(f"*/{FORM_FILE}"), EXAMPLES_DIR.glob(f"*/{FORM_FILE}"))
    known = sorted(path.parent.name for paths in found for path in paths)
    raise SpecError(f"form {name}: no {FORM_FILE} in defs/{name}/ (forms: {', '.join(known)})")


def read_form_file(path: Path) -> dict[str, Any]:
    """The ``attributes`` of a form's ``defs.yaml``."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    attributes = document.get("attributes") if isinstance(document, dict) else None
    if not isinstance(attributes, dict) or "spec" not in attributes:
        raise SpecError(f"{path}: no attributes.spec (a form's defs.yaml holds its spec)")
    return attributes


def load_form_spec(name_or_folder: str | Path, table_ddl: str | None = None) -> FormSpec:
    """The spec of a form by its name (``fktk_refund``) or folder, validated and resolved.

    For the command-line tools and the emulator, which read one form without loading the code
    location; the code location gets the same spec through its component.
    """
    folder = Path(name_or_folder)
    if folder.name == FORM_FILE:
        folder = folder.parent
    if not (folder / FORM_FILE).is_file():
        if isinstance(name_or_folder, Path) or "/" in str(name_or_folder):
            raise SpecError(f"form {name_or_folder}: no such file {folder / FORM_FILE}")
        folder = form_folder(str(name_or_folder))
    attributes = read_form_file(folder / FORM_FILE)
    name = str(attributes.get("form") or folder.name)
    return parse_form_spec(name, attributes["spec"], str(folder / FORM_FILE), table_ddl, folder)
