"""The form spec holds the seed scheme exactly, and a typo fails at load with a clear message."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dd_refund_pipeline.forms.spec import FORMS_DIR, SpecError, load_form_spec
from dd_refund_pipeline.settings import TIMING_ENV


def test_the_seed_scheme_is_in_the_spec():
    spec = load_form_spec("fktk_refund")
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


def _spec_with(tmp_path: Path, change) -> Path:
    """The refund spec written to ``tmp_path`` after ``change`` edits its parsed YAML."""
    raw = yaml.safe_load((FORMS_DIR / "fktk_refund.yaml").read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "broken.yaml"
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
        load_form_spec(_spec_with(tmp_path, edit))
    assert "form spec fktk_refund" in str(raised.value)
    assert message in str(raised.value)


def test_unknown_spec_name_is_a_clear_error():
    with pytest.raises(SpecError, match="no such file"):
        load_form_spec("no_such_form")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(source=["app_type"]), r"source: expected a mapping, got a list"),
        (
            lambda r: r["source"].update(fields=["dateField_lgkieplu"]),
            r"source.fields: expected a mapping, got a list",
        ),
        (
            lambda r: r["filters"].update(search_fields=["selectField_lgkiepju"]),
            r"filters.search_fields: expected a mapping, got a list",
        ),
        (lambda r: r.update(filter={}), r"unknown key 'filter' \(known: .*filters"),
        (
            lambda r: r["filters"].update(lookback=30),
            r"filters: unknown key 'lookback' \(known: .*lookback_days",
        ),
        (
            lambda r: r["target"]["columns"][0].update(fromat="amount"),
            r"target.columns\[0\]: unknown key 'fromat'",
        ),
        (lambda r: r["target"].update(columns={"a": 1}), r"target.columns: expected a list"),
        (
            lambda r: r["filters"].update(instance_status="COMPLETE"),
            r"filters.instance_status: 'COMPLETE' is not one of Yida's "
            r"\(COMPLETED, ERROR, RUNNING, TERMINATED\)",
        ),
        (
            lambda r: r["filters"].update(approved_result="refuse"),
            r"filters.approved_result: 'refuse' is not one of Yida's \(agree, disagree\)",
        ),
    ],
)
def test_a_malformed_spec_names_its_file_the_field_and_what_was_expected(tmp_path, change, message):
    path = _spec_with(tmp_path, change)
    with pytest.raises(SpecError, match=message) as raised:
        load_form_spec(path)
    assert str(path) in str(raised.value)


# -- settings a person can correct from the message ----------------------------------------------


@pytest.mark.whole_suite  # the code location loads in a subprocess, as a user's command does
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DD_REFUND_LATE_CHANGES_INTERVAL_HOURS", "6h", "give a number of hours greater than 0"),
        ("DD_REFUND_LATE_CHANGES_INTERVAL_HOURS", "0", "give a number of hours greater than 0"),
        ("DD_REFUND_LATE_CHANGES_INTERVAL_HOURS", "nan", "give a number of hours greater than 0"),
        ("DD_REFUND_PARTITIONS_START", "2024-13-01", "give a day as YYYY-MM-DD"),
        ("DD_REFUND_PARTITIONS_START", "yesterday", "give a day as YYYY-MM-DD"),
        ("DD_REFUND_DEEP_RECONCILE_DAYS", "a year", "give a whole number of days"),
    ],
)
def test_a_bad_setting_stops_the_code_location_with_one_line_naming_it(name, value, message):
    """Loaded as Dagster loads it (a fresh process), the error is one line naming the setting:
    the component's attribute, the ``defs.yaml`` that reads it, and the variable it reads."""
    attribute = {variable: attribute for attribute, variable in TIMING_ENV.items()}[name]
    from dd_refund_pipeline_tests.ground_truth import ROOT

    done = subprocess.run(
        [sys.executable, "-c", "from dd_refund_pipeline.definitions import defs; defs()"],
        cwd=ROOT,
        env={**os.environ, name: value},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    # Whichever form loads first names its own defs.yaml (the tests turn the example on).
    assert len(lines) == 1
    assert re.fullmatch(
        rf"dd_refund_pipeline: a setting is wrong: {attribute} in "
        rf"dd_refund_pipeline/(defs|examples)/\w+/defs\.yaml \({name} there\) is "
        rf"{re.escape(repr(value))}: {message}.*",
        lines[0],
    ), lines[0]


def test_a_password_in_the_url_query_is_masked_too():
    from dd_refund_pipeline.load.loader import safe_url

    shown = safe_url("mysql+pymysql://finance@db:3306/hc?password=s3cret&charset=utf8mb4")
    assert "s3cret" not in shown and "password=***" in shown and "charset=utf8mb4" in shown
    assert "s3cret" not in safe_url("mysql+pymysql://finance:s3cret@db/hc?PWD=s3cret")
