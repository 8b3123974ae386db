"""Yida's component types and the kinds a form spec calls them.

``GetFieldDefByUuid`` names each component of a form by its ``componentName`` (``NumberField``);
a spec's ``source.fields`` say ``kind: number``. The scaffold reads the one, the emulator serves
the other: both go through this table, so a kind always means the same component.
"""

from __future__ import annotations

KIND_OF_COMPONENT = {
    "DateField": "date",
    "SerialNumberField": "serial",
    "SelectField": "select",
    "RadioField": "radio",
    "NumberField": "number",
    "TextField": "text",
    "TextareaField": "textarea",
    "EmployeeField": "employee",
    "DepartmentSelectField": "department",
    "AttachmentField": "attachment",
    "ImageField": "image",
    "CheckboxField": "checkbox",
    "MultiSelectField": "multiselect",
    "CascadeDateField": "date_range",
    "AddressField": "address",
    "TableField": "table",
}
COMPONENT_OF_KIND = {kind: name for name, kind in KIND_OF_COMPONENT.items()}
# Kinds whose value is one plain value a column can hold as Yida sends it (the others send lists
# or objects: people, departments, files, ranges, sub-table rows).
SCALAR_KINDS = frozenset({"date", "serial", "select", "radio", "number", "text", "textarea"})
# A sub-table: each form holds rows of it, and one table row is one form.
SUB_TABLE_KIND = "table"


def kind_of(component_name: str) -> str:
    """The spec kind of a Yida component (an unknown ``FooBarField`` is ``foo_bar``)."""
    if component_name in KIND_OF_COMPONENT:
        return KIND_OF_COMPONENT[component_name]
    stem = component_name.removesuffix("Field") or component_name
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in stem).lstrip("_")
