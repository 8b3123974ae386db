"""The form spec as a person writes it: the ``spec:`` of a form's ``defs.yaml``, as typed models.

These pydantic models are the one description of what a spec may hold. Dagster reads them as
the form component's attributes, so ``dg check defs`` (and an editor given the component's
schema) names the file, the line, the field and the type a typo breaks; the command-line tools
and the emulator validate the same ``spec:`` through the same models. What needs the table's DDL
(does a column exist, what type it has) is checked when the spec is resolved
(``forms/spec.py``).

Field types stay the ones Dagster's component schema accepts (text, numbers, lists, mappings,
literals, nested models): constraints are validators, not annotated types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

INSTANCE_PREFIX = "instance."
# The scheme's value formats we implement (the 轻易云 names).
ValueFormat = Literal["date", "dateTime", "string", "intval", "amount"]
FORMATS = frozenset(get_args(ValueFormat))
# GetInstances' values (yida-api.md): a typo would match nothing, and under the delete policy
# empty the window's rows.
InstanceStatus = Literal["COMPLETED", "ERROR", "RUNNING", "TERMINATED"]
ApprovedResult = Literal["agree", "disagree"]
# The earliest date a form can carry (the ``in_range`` rule's default lower bound).
EARLIEST_DAY = date(2000, 1, 1)
_TEMPLATE_PART = re.compile(r"(\{[^{}]+\})")


def template_parts(value: str) -> list[str]:
    """A column's value template as literal text and ``{ref}`` placeholders, in order."""
    return [part for part in _TEMPLATE_PART.split(value) if part]


def template_refs(value: str) -> list[str]:
    """The fields a column's value template names (``{serial}(X)`` → serial)."""
    return [part[1:-1] for part in template_parts(value) if _TEMPLATE_PART.fullmatch(part)]


def value_format(value: str, own: str | None, made_by: Mapping[str, str]) -> str | None:
    """The format of a column's value: its ``own``, or the format of the one field it copies.

    ``made_by``: each formatResponse rule's new field and its format.
    """
    refs = template_refs(value)
    if own or len(refs) != 1 or value != f"{{{refs[0]}}}":
        return own
    return made_by.get(refs[0])


class _SpecPart(BaseModel):
    # A key nobody declared is a typo; an unquoted number where text belongs (a userId) is
    # still the text it reads as.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


def _filled(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class SubTableComponent(_SpecPart):
    """A component inside a sub-table (明细): it holds no sub-table of its own."""

    label: str = Field(description="The component's label in the form designer (申请日期).")
    kind: str = Field(
        description="What the component is: date, serial, select, radio, number, text, "
        "textarea, table (a sub-table), …"
    )
    options: dict[str, float] = Field(
        default_factory=dict,
        description="select/radio: each choice and its usual share of forms (the emulator "
        "draws by them).",
    )
    prefix: str = Field("", description="serial: the serial rule's prefix (FKTK).")
    maximum: float = Field(20000.0, description="number: the largest amount a form carries.")

    _label = field_validator("label", "kind")(_filled)

    @field_validator("options")
    @classmethod
    def _positive_shares(cls, options: dict[str, float]) -> dict[str, float]:
        if any(share <= 0 for share in options.values()):
            raise ValueError("each choice's share must be a number greater than 0")
        return options

    @field_validator("maximum")
    @classmethod
    def _positive_maximum(cls, maximum: float) -> float:
        if maximum <= 0:
            raise ValueError("must be a number greater than 0")
        return maximum


class SourceComponent(SubTableComponent):
    """One component of the Yida form the spec reads, as its designer configured it."""

    children: dict[str, SubTableComponent] = Field(
        default_factory=dict,
        description="A sub-table's (kind: table) own components, by component id.",
    )


class SourceModel(_SpecPart):
    """Which Yida form to read, as whom."""

    app_type: str = Field(description="The Yida app (APP_…).")
    form_uuid: str = Field(description="The form (FORM-…).")
    user_id: str = Field(description="The DingTalk userId the API reads as.")
    language: str = Field("zh_CN", description="The language of labels in answers.")
    form_name: str = Field(
        "", description="What one instance is called: titles read '<originator>发起的<form_name>'."
    )
    system_token_env: str = Field(
        description="The name of the environment variable holding the app's systemToken "
        "(never the token)."
    )
    fields: dict[str, SourceComponent] = Field(
        description="The form's components this spec reads, by component id."
    )

    _filled = field_validator("app_type", "form_uuid", "user_id", "system_token_env")(_filled)


class FiltersModel(_SpecPart):
    """What GetInstances is asked for besides the create-time window."""

    search_fields: dict[str, Any] = Field(
        default_factory=dict,
        description="searchFieldJson: component id → value (a list for a number's range).",
    )
    instance_status: InstanceStatus | None = Field(None, description="instanceStatus.")
    approved_result: ApprovedResult | None = Field(None, description="approvedResult.")
    lookback_days: int = Field(
        25, description="How many days of creation time every run reads again."
    )

    @field_validator("lookback_days")
    @classmethod
    def _at_least_a_day(cls, days: int) -> int:
        if days < 1:
            raise ValueError("must be a whole number of days greater than 0")
        return days


class FormatModel(_SpecPart):
    """A formatResponse rule: the field ``new`` is the field ``old`` in ``format``."""

    old: str = Field(description="The source component id.")
    new: str = Field(description="The new field's name, for column values to use.")
    format: ValueFormat = Field(description="How the value is read.")


class ColumnModel(_SpecPart):
    """A column the sync writes: a template over fields, or a constant."""

    name: str = Field(description="The column, as the table's DDL names it.")
    label: str = Field("", description="Its Chinese label (the DDL's COMMENT).")
    value: str = Field(
        description="'{field}' templates over the form's fields and formats' new fields, "
        "'{instance.<key>}' for the instance's own values, or a constant."
    )
    format: ValueFormat | None = Field(None, description="How the value is read, if not text.")
    pattern: str | None = Field(
        None, description="A regular expression every stored value should match (WARN check)."
    )
    check: Literal["positive", "in_range"] | None = Field(
        None, description="positive: every stored value > 0; in_range: a date up to tomorrow."
    )
    earliest: str = Field(
        EARLIEST_DAY.isoformat(), description="in_range: the earliest date (YYYY-MM-DD)."
    )

    _filled = field_validator("name", "value")(_filled)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return pattern

    @field_validator("earliest", mode="before")
    @classmethod
    def _a_day(cls, raw: Any) -> str:
        # YAML reads an unquoted 2020-01-01 as a date.
        text = raw.isoformat() if isinstance(raw, date) else str(raw)
        try:
            date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a date (YYYY-MM-DD)") from None
        return text


class TargetModel(_SpecPart):
    """The table rows go to, keyed by ``key``; its DDL is ``<table>.sql`` in the form's folder."""

    table: str = Field(description="The finance table (its DDL: <table>.sql beside defs.yaml).")
    key: str = Field(description="The column holding the processInstanceId: one row per form.")
    columns: list[ColumnModel] = Field(description="The columns the sync writes, in order.")

    @field_validator("table")
    @classmethod
    def _plain_name(cls, table: str) -> str:
        if not re.fullmatch(r"\w+", table):
            raise ValueError(f"'{table}' is not a plain table name")
        return table

    @field_validator("columns")
    @classmethod
    def _some(cls, columns: list[ColumnModel]) -> list[ColumnModel]:
        if not columns:
            raise ValueError("name at least the key column")
        return columns


class FormSpecModel(_SpecPart):
    """One sync scheme: the Yida form, its filters and formats, and the table's columns.

    What the 轻易云 scheme's metadata held. The checks across parts (a filter on a field the
    source reads, a value naming a known field, the key among the columns, a rule that fits its
    column) are made here, so that Dagster reports them at the spec's line too.
    """

    title: str = Field("", description="The scheme's title, as the team calls it.")
    example: bool = Field(
        False,
        description="A worked example with made-up identifiers: refused outside the demo.",
    )
    source: SourceModel
    filters: FiltersModel = Field(default_factory=FiltersModel)  # type: ignore[arg-type]
    formats: list[FormatModel] = Field(
        default_factory=list, description="The scheme's formatResponse: new fields from old."
    )
    target: TargetModel

    @model_validator(mode="after")
    def _parts_agree(self) -> FormSpecModel:
        fields = self.source.fields
        for key in self.filters.search_fields:
            if key not in fields:
                raise ValueError(f"filters.search_fields: '{key}' is not a field of source.fields")
        for index, rule in enumerate(self.formats):
            self._refuse_sub_table(rule.old, f"formats[{index}]")
            if rule.old not in fields:
                raise ValueError(
                    f"formats[{index}]: old field '{rule.old}' is not a field of source.fields"
                )
        known = set(fields) | {rule.new for rule in self.formats}
        for index, column in enumerate(self.target.columns):
            where = f"target.columns[{index}]"
            for ref in template_refs(column.value):
                self._refuse_sub_table(ref, where)
                if ref not in known and not ref.startswith(INSTANCE_PREFIX):
                    raise ValueError(
                        f"{where}: '{{{ref}}}' names no field (known: "
                        f"{', '.join(sorted(known))}, or instance.<key>)"
                    )
            self._rule_fits(column, where)
        if self.target.key not in {column.name for column in self.target.columns}:
            raise ValueError(f"target.key: '{self.target.key}' is not one of the target columns")
        return self

    def _rule_fits(self, column: ColumnModel, where: str) -> None:
        made_by = {rule.new: rule.format for rule in self.formats}
        fmt = value_format(column.value, column.format, made_by)
        if column.check == "in_range" and fmt not in ("date", "dateTime"):
            raise ValueError(f"{where}: 'in_range' needs a date or dateTime value, not {fmt}")
        if column.check == "positive" and fmt not in ("amount", "intval"):
            raise ValueError(f"{where}: 'positive' needs an amount or intval value, not {fmt}")

    def _refuse_sub_table(self, ref: str, where: str) -> None:
        """A column reading a sub-table, or a component of one, has no single value to hold."""
        for component_id, component in self.source.fields.items():
            if component.children and ref in (component_id, *component.children):
                raise ValueError(
                    f"{where}: '{{{ref}}}' is in the sub-table {component_id} "
                    f"({component.label}), which is not mapped: a form holds any number of its "
                    "rows and one table row is one form"
                )
