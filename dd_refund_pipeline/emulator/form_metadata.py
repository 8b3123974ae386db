"""What Yida says a form is: the app's form list and a form's field definitions.

``GET /v1.0/yida/forms`` (GetFormListInApp) and ``GET /v1.0/yida/forms/formFields``
(GetFieldDefByUuid), shaped as the official SDK's ``yida_1_0`` models read them (see
``yida-api.md`` §7): built from each served form's spec and the components every generated form
carries besides (reason, applicant, department, attachments, the details sub-table).
"""

from __future__ import annotations

import json
from typing import Any

from dd_refund_pipeline.emulator.generator import (
    ATTACHMENT_FIELD,
    DEPARTMENT_FIELD,
    DETAIL_AMOUNT_FIELD,
    DETAIL_TEXT_FIELD,
    DETAILS_FIELD,
    EMPLOYEE_FIELD,
    REASON_FIELD,
)
from dd_refund_pipeline.forms.components import COMPONENT_OF_KIND, SUB_TABLE_KIND
from dd_refund_pipeline.forms.spec import FormSpec, SourceField

# Components of every generated form that the specs do not map: (id, component, label).
COMMON_COMPONENTS = (
    (REASON_FIELD, "TextField", "事由"),
    (EMPLOYEE_FIELD, "EmployeeField", "申请人"),
    (DEPARTMENT_FIELD, "DepartmentSelectField", "所属部门"),
    (ATTACHMENT_FIELD, "AttachmentField", "附件"),
)
DETAIL_CHILDREN = (
    (DETAIL_TEXT_FIELD, "TextField", "费用项目"),
    (DETAIL_AMOUNT_FIELD, "NumberField", "金额"),
)
# Every served form is a process form (流程表单): what GetInstances reads.
FORM_TYPE = "process"


def _label(text: str) -> dict[str, str]:
    """A component label as Yida holds it: an i18n object."""
    return {"zh_CN": text, "en_US": "", "type": "i18n"}


def _props(field: SourceField) -> dict[str, Any]:
    """The component's properties: options for choices, the rule of a serial, a number's bound."""
    if field.options:
        return {"dataSource": [{"text": name, "value": name} for name in field.options]}
    if field.kind == "serial":
        rule = [
            {"ruleType": "character", "value": field.prefix},
            {"ruleType": "date", "dateFormat": "yyyyMMdd"},
            {"ruleType": "autoCount", "digitCount": 3},
        ]
        return {"serialNumberRule": rule}
    if field.kind == "number":
        return {"precision": 2, "max": field.maximum}
    return {}


def _component(field_id: str, name: str, label: str, **extra: Any) -> dict[str, Any]:
    return {
        "fieldId": field_id,
        "componentName": name,
        "label": _label(label),
        "behavior": "NORMAL",
        "props": extra.pop("props", {}),
        **extra,
    }


def _sub_table(field_id: str, label: str, children: list[dict[str, Any]]) -> dict[str, Any]:
    # The SDK types a sub-table's children as a string: JSON of its components.
    children_json = json.dumps(children, ensure_ascii=False)
    return _component(field_id, COMPONENT_OF_KIND[SUB_TABLE_KIND], label, children=children_json)


def _spec_component(field: SourceField) -> dict[str, Any]:
    if field.kind == SUB_TABLE_KIND:
        children = [_spec_component(child) for child in field.children.values()]
        return _sub_table(field.id, field.label, children)
    return _component(
        field.id, COMPONENT_OF_KIND.get(field.kind, "TextField"), field.label, props=_props(field)
    )


def form_fields(spec: FormSpec) -> list[dict[str, Any]]:
    """GetFieldDefByUuid's ``result``: every component of the form, in the designer's order.

    The spec's components, then those every generated form carries that the spec does not
    list (a spec written from this answer lists them all).
    """
    known = spec.source.fields
    fields = [_spec_component(f) for f in known.values()]
    fields += [_component(i, name, label) for i, name, label in COMMON_COMPONENTS if i not in known]
    if DETAILS_FIELD not in known:
        children = [_component(i, name, label) for i, name, label in DETAIL_CHILDREN]
        fields.append(_sub_table(DETAILS_FIELD, "费用明细", children))
    return fields


def form_summary(spec: FormSpec, form_uuid: str, creator: str) -> dict[str, Any]:
    """One entry of GetFormListInApp's ``result.data``."""
    return {
        "formUuid": form_uuid,
        "title": {"zhCN": spec.source.form_name, "enUS": ""},
        "formType": FORM_TYPE,
        "creator": creator,
        "gmtCreate": "2023-04-17T10:21:08Z",
    }
