"""A Yida form as Yida describes it: its entry in the app's form list and its components.

``GetFormListInApp`` and ``GetFieldDefByUuid`` answer in shapes the SDK types loosely (a label
is an i18n object or a string, a sub-table's children are JSON text, ``props`` vary by
component: ``yida-api.md`` §7). This reads them into plain values, tolerating every shape the
contract allows; what a component is called in a spec is ``components``' business.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dd_refund_pipeline.forms.components import SUB_TABLE_KIND, kind_of

# What ``data`` keys look like (``numberField_lgkiepjv``): also a column name, so nothing else.
FIELD_ID = re.compile(r"[A-Za-z]\w*")
# The serial rule's date parts: the letters of a date format are its digits (yyyyMMdd: 8).
_DATE_LETTERS = re.compile(r"[yMdHhms]")


@dataclass(frozen=True)
class Component:
    """One component of a form: its id (the key in ``data``), label, kind and settings."""

    id: str
    label: str
    kind: str
    component_name: str
    options: tuple[str, ...] = ()
    # The serial rule's fixed leading text (``FYBX``) and the pattern of its numbers.
    prefix: str = ""
    pattern: str | None = None
    maximum: float | None = None
    children: tuple[Component, ...] = ()
    behavior: str = "NORMAL"


@dataclass(frozen=True)
class YidaForm:
    """A process form: where it lives, what Yida calls it, and its components in order."""

    form_uuid: str
    title: str
    form_type: str
    components: tuple[Component, ...] = field(default_factory=tuple)


def text_of(label: Any) -> str:
    """A label as text: Yida's i18n object (Chinese first), or a plain string."""
    if isinstance(label, Mapping):
        for key in ("zh_CN", "zhCN", "en_US", "enUS", "value"):
            if isinstance(label.get(key), str) and label[key].strip():
                return str(label[key]).strip()
        return ""
    return label.strip() if isinstance(label, str) else ""


def _options(props: Mapping[str, Any]) -> tuple[str, ...]:
    source = props.get("dataSource") or props.get("options") or []
    found = []
    for item in source if isinstance(source, list) else []:
        text = text_of(item.get("text") or item.get("value")) if isinstance(item, Mapping) else ""
        if text and text not in found:
            found.append(text)
    return tuple(found)


def serial_rule(props: Mapping[str, Any]) -> tuple[str, str | None]:
    """The serial rule's fixed prefix and a pattern its numbers match (None when unknown)."""
    rule = props.get("serialNumberRule") or props.get("formula") or []
    if not isinstance(rule, list) or not rule:
        return "", None
    prefix, parts, leading = "", [], True
    for step in rule:
        kind = step.get("ruleType") if isinstance(step, Mapping) else None
        if kind == "character" and isinstance(step.get("value"), str):
            parts.append(re.escape(step["value"]))
            prefix += step["value"] if leading else ""
            continue
        leading = False
        if kind == "date" and isinstance(step.get("dateFormat"), str):
            parts.append(rf"\d{{{len(_DATE_LETTERS.findall(step['dateFormat']))}}}")
        elif kind == "autoCount" and isinstance(step.get("digitCount"), int):
            parts.append(rf"\d{{{step['digitCount']},}}")
        else:
            return prefix, None  # a part we cannot read: no pattern rather than a wrong one
    return prefix, "^" + "".join(parts) + "$"


def _children(raw: Any) -> list[Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    return raw if isinstance(raw, list) else []


def _positive(value: Any) -> float | None:
    """A positive number as read (the client reads JSON numbers as Decimal), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    return number if number > 0 and math.isfinite(number) else None


def component(raw: Any) -> Component | None:
    """One component of ``GetFieldDefByUuid``'s answer (None without a usable ``fieldId``)."""
    field_id = raw.get("fieldId") if isinstance(raw, Mapping) else None
    if not isinstance(field_id, str) or not FIELD_ID.fullmatch(field_id):
        return None
    name = str(raw.get("componentName") or "TextField")
    found_props = raw.get("props")
    props: Mapping[str, Any] = found_props if isinstance(found_props, Mapping) else {}
    prefix, pattern = serial_rule(props) if kind_of(name) == "serial" else ("", None)
    maximum = props.get("max")
    children = tuple(
        c for c in (component(child) for child in _children(raw.get("children"))) if c is not None
    )
    return Component(
        id=field_id,
        label=text_of(raw.get("label")) or field_id,
        kind=kind_of(name),
        component_name=name,
        options=_options(props),
        prefix=prefix,
        pattern=pattern,
        maximum=_positive(maximum),
        children=children if kind_of(name) == SUB_TABLE_KIND else (),
        behavior=str(raw.get("behavior") or "NORMAL"),
    )


def read_form(summary: Mapping[str, Any], fields: Sequence[Any]) -> YidaForm:
    """The form from its form-list entry and its field definitions."""
    components = tuple(c for c in (component(raw) for raw in fields) if c is not None)
    return YidaForm(
        form_uuid=str(summary.get("formUuid") or ""),
        title=text_of(summary.get("title")),
        form_type=str(summary.get("formType") or ""),
        components=components,
    )
