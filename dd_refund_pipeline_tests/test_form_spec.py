"""The form spec holds the seed scheme exactly, and a typo fails at load with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dd_refund_pipeline.forms.spec import FORMS_DIR, SpecError, load_form_spec


def test_the_seed_scheme_is_in_the_spec():
    spec = load_form_spec()
    assert spec.source.app_type == "APP_WTSCMZ1WOOHGIM5N28BQ"
    assert spec.source.form_uuid == "FORM-0IA66C71A4V9JSAX6MEV45W77QOO2WI78EHGLQ"
    assert spec.source.user_id == "16000443318138909"
    assert spec.source.language == "zh_CN"
    assert spec.source.system_token_env == "YIDA_SYSTEM_TOKEN"
    assert spec.filters.search_fields == {
        "selectField_lgkiepju": "是",
        "radioField_lgk9jn2v": "借款核销",
        "numberField_lgkiepjv": [0.0001],
    }
    assert (spec.filters.instance_status, spec.filters.approved_result) == ("COMPLETED", "agree")
    assert spec.filters.lookback_days == 25
    assert [(f.old, f.new, f.format) for f in spec.formats] == [
        ("dateField_lgkieplu", "datetime_new", "date"),
        ("serialNumberField_lgk9jn2s", "order_no_new", "string"),
    ]
    assert spec.target.table == "hc_dd_fktk"
    assert spec.target.key == "extend_processInstanceId"
    assert [(c.name, c.label) for c in spec.target.columns] == [
        ("extend_processInstanceId", "明细id"),
        ("order_no_new", "单号"),
        ("datetime_new", "时间"),
        ("qty_count", "数量"),
        ("sales_count", "金额"),
        ("status", "状态"),
        ("Document_Type", "单据类型"),
    ]
    assert spec.target.column("order_no_new").value == "{order_no_new}(FKTK)"
    assert spec.target.column("Document_Type").value == "付款退款"
    assert spec.target.column("sales_count").table_column.sql_type == "DECIMAL(18,2)"


def _variant(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load((FORMS_DIR / "fktk_refund.yaml").read_text(encoding="utf-8"))
    edit(raw)
    path = tmp_path / "typo_form.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["formats"][0].update(format="dat"), "formats[0]: unknown format 'dat'"),
        (
            lambda r: r["target"]["columns"][1].update(name="order_no"),
            "'order_no' is not a column of hc_dd_fktk",
        ),
        (
            lambda r: r["target"]["columns"][1].update(value="{order_number}(FKTK)"),
            "'{order_number}' names no field",
        ),
        (
            lambda r: r["formats"][1].update(old="serialNumberField_typo"),
            "old field 'serialNumberField_typo' is not a field",
        ),
        (lambda r: r["target"].update(key="extend_id"), "'extend_id' is not one of the target"),
        (lambda r: r["source"].pop("form_uuid"), "'form_uuid' is required"),
    ],
)
def test_a_typo_fails_at_load_naming_spec_and_field(tmp_path, edit, message):
    with pytest.raises(SpecError) as raised:
        load_form_spec(_variant(tmp_path, edit))
    assert "form spec fktk_refund" in str(raised.value)
    assert message in str(raised.value)


def test_unknown_spec_name_is_a_clear_error():
    with pytest.raises(SpecError, match="no such file"):
        load_form_spec("no_such_form")
