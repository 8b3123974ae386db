"""A first spec for a new form, proposed from what Yida says the form is.

The table is proposed in the shape of a form the project already syncs (``like``, the refund
form by default): its key column, the columns that hold its date, serial number and amount,
its instance values and constants, under the same names, so that a finance table of the house
looks like the others. Every other plain component becomes a column named after its id, for
the person to rename or drop; components that hold lists or objects (people, departments,
files) and sub-tables are left out and listed. What only a person can know (which forms count,
the constants' values, the table's name) is listed as decisions, never guessed silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dd_refund_pipeline.forms.components import SCALAR_KINDS, SUB_TABLE_KIND
from dd_refund_pipeline.forms.spec import FormSpec, TargetColumn, snake_case
from dd_refund_pipeline.forms.spec_model import INSTANCE_PREFIX
from dd_refund_pipeline.forms.yida_form import Component, YidaForm
from dd_refund_pipeline.settings import timing_templates

# The share each choice gets in the emulator until someone knows the real ones.
EQUAL_SHARE = 1


@dataclass
class Proposal:
    """The spec (as YAML-ready data), the component's attributes, and what is left to decide."""

    spec: dict[str, Any]
    defs: dict[str, Any]
    unmapped: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)


def _field_entry(component: Component) -> dict[str, Any]:
    entry: dict[str, Any] = {"label": component.label, "kind": component.kind}
    if component.options:
        entry["options"] = {option: EQUAL_SHARE for option in component.options}
    if component.prefix:
        entry["prefix"] = component.prefix
    if component.kind == "number" and component.maximum:
        entry["maximum"] = component.maximum
    if component.children:
        entry["children"] = {child.id: _field_entry(child) for child in component.children}
    return entry


class _Mapper:
    """Maps the reference form's columns onto the new form's components, each used once."""

    def __init__(self, like: FormSpec, form: YidaForm) -> None:
        self.like = like
        self.form = form
        self.used: set[str] = set()
        self.formats: list[dict[str, str]] = []
        self.decisions: list[str] = []

    def _first_unused(self, kind: str) -> Component | None:
        return next(
            (c for c in self.form.components if c.kind == kind and c.id not in self.used), None
        )

    def _source_kind(self, column: TargetColumn) -> str | None:
        """The kind of the one component the reference column copies, if it copies one."""
        fields = self.like.source.fields
        refs = [ref for ref in column.refs if not ref.startswith(INSTANCE_PREFIX)]
        if len(refs) != 1:
            return None
        rule = self.like.format_for(refs[0])
        source = fields.get(rule.old if rule else refs[0])
        return source.kind if source else None

    def column(self, column: TargetColumn) -> dict[str, Any] | None:
        """The new form's version of one reference column (None when the form has no match)."""
        entry: dict[str, Any] = {"name": column.name, "label": column.label}
        if column.is_constant:
            entry["value"] = column.value if column.value.isdigit() else self.form.title
            if not column.value.isdigit():
                self.decisions.append(
                    f"target.columns {column.name}: a constant, proposed as the form's title "
                    f"'{self.form.title}' ({self.like.name} writes '{column.value}')"
                )
            return entry
        kind = self._source_kind(column)
        if kind is None:
            return {**entry, "value": column.value}  # instance values: the same for every form
        found = self._first_unused(kind)
        if found is None:
            self.decisions.append(
                f"target.columns: no {kind} component in this form for {column.name} "
                f"(as {self.like.name} has it): left out"
            )
            return None
        self.used.add(found.id)
        return {**entry, **self._value(column, found)}

    def _value(self, column: TargetColumn, found: Component) -> dict[str, Any]:
        [ref] = [ref for ref in column.refs if not ref.startswith(INSTANCE_PREFIX)]
        rule = self.like.format_for(ref)
        value: dict[str, Any] = {"value": f"{{{found.id}}}"}
        if rule is not None:
            self.formats.append({"old": found.id, "new": rule.new, "format": rule.format})
            value["value"] = f"{{{rule.new}}}"
        if column.format:
            value["format"] = column.format
        if found.kind == "serial" and found.pattern:
            value["pattern"] = found.pattern
        if column.check:
            value["check"] = column.check
        return value

    def extra(self, component: Component) -> dict[str, Any]:
        """A column for a plain component the reference has no column for."""
        entry: dict[str, Any] = {
            "name": snake_case(component.id),
            "label": component.label,
            "value": f"{{{component.id}}}",
        }
        if component.kind == "number":
            entry["format"] = "amount"
        elif component.kind == "date":
            entry["format"] = "date"
        return entry


def _unmapped(form: YidaForm, used: set[str]) -> list[str]:
    lines = []
    for component in form.components:
        if component.kind == SUB_TABLE_KIND:
            children = ", ".join(
                f"{c.id} {c.label} ({c.component_name})" for c in component.children
            )
            lines.append(
                f"{component.id} {component.label} (TableField): a sub-table, not mapped (a form "
                f"holds any number of its rows; one table row is one form). Its fields: "
                f"{children or 'none'}"
            )
        elif component.kind not in SCALAR_KINDS and component.id not in used:
            lines.append(
                f"{component.id} {component.label} ({component.component_name}): holds a list "
                "or an object, not mapped"
            )
    return lines


def form_names(name: str, table: str) -> dict[str, Any]:
    """The public names of what the component builds for the form (``defs.yaml``)."""
    return {
        "form": name,
        "group": f"dingtalk_{name}",
        "instances_asset": f"yida_{name}_instances",
        "rows_asset": f"{name}_rows",
        "job": f"dd_{name}_sync_job",
        "schedule": f"dd_{name}_daily_schedule",
        "late_changes_sensor": f"dd_{name}_late_changes",
        "freshness_sensor": f"{table}_freshness_sensor",
        "deep_reconcile_job": f"dd_{name}_deep_reconcile_job",
        "deep_reconcile_schedule": f"dd_{name}_deep_reconcile_schedule",
    }


def propose(form: YidaForm, name: str, table: str, like: FormSpec) -> Proposal:
    """The spec, the component and the open decisions for ``form`` synced into ``table``."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"name {name!r}: lower-case letters, digits and _ (e.g. fybx_expense)")
    if not re.fullmatch(r"\w+", table):
        raise ValueError(f"table {table!r} is not a plain table name")
    mapper = _Mapper(like, form)
    columns = [c for c in (mapper.column(column) for column in like.target.columns) if c]
    extras = [
        mapper.extra(c)
        for c in form.components
        if c.kind in SCALAR_KINDS and c.id not in mapper.used
    ]
    source = like.source
    filters = like.filters
    spec = {
        "title": f"dd-{form.title}-->{table}",
        "source": {
            "app_type": source.app_type,
            "form_uuid": form.form_uuid,
            "user_id": source.user_id,
            "language": source.language,
            "form_name": form.title,
            "system_token_env": source.system_token_env,
            "fields": {c.id: _field_entry(c) for c in form.components},
        },
        "filters": {
            "search_fields": {},
            "instance_status": filters.instance_status,
            "approved_result": filters.approved_result,
            "lookback_days": filters.lookback_days,
        },
        "formats": mapper.formats,
        "target": {"table": table, "key": like.target.key, "columns": columns + extras},
    }
    decisions = [
        "filters.search_fields: which of the form's completed, agreed instances belong in "
        f"{table} (now: all of them; {like.name} reads "
        f"{dict(filters.search_fields) or 'all'})",
        *mapper.decisions,
        f"target.columns: rename or drop the columns named after component ids "
        f"({', '.join(c['name'] for c in extras) or 'none'})",
        f"target.table: {table}, and filters.lookback_days: {filters.lookback_days} (as "
        f"{like.name}): how long after filing a form is still approved or edited",
    ]
    defs = {
        "type": "dd_refund_pipeline.components.form_sync.YidaFormSync",
        "attributes": {
            **form_names(name, table),
            "owners": ["team:finance-data"],
            **timing_templates(),
        },
    }
    return Proposal(spec, defs, _unmapped(form, mapper.used), decisions)
