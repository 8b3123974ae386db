"""The form spec holds the seed scheme exactly, and a typo fails at load with a clear message."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dd_refund_pipeline.forms.spec import SpecError, form_folder, load_form_spec
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


def form_copy(tmp_path: Path, change, name: str = "fktk_refund") -> Path:
    """A copy of form ``name``'s folder in ``tmp_path``, ``change`` having edited its spec."""
    source = form_folder(name)
    document = yaml.safe_load((source / "defs.yaml").read_text(encoding="utf-8"))
    change(document["attributes"]["spec"])
    folder = tmp_path / name
    folder.mkdir()
    (folder / "defs.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    for ddl in source.glob("*.sql"):
        (folder / ddl.name).write_text(ddl.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda r: r["formats"][0].update(format="dat"),
            "spec.formats[0].format: Input should be 'date', 'dateTime', 'string', 'intval' or "
            "'amount'",
        ),
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
        (lambda r: r["source"].pop("form_uuid"), "spec.source.form_uuid: Field required"),
        (lambda r: r["source"].update(app_type=" "), "spec.source.app_type: must not be blank"),
    ],
)
def test_a_typo_fails_at_load_naming_spec_and_field(tmp_path, edit, message):
    with pytest.raises(SpecError) as raised:
        load_form_spec(form_copy(tmp_path, edit))
    assert "form spec fktk_refund" in str(raised.value)
    assert message in str(raised.value)


def test_unknown_spec_name_is_a_clear_error():
    with pytest.raises(SpecError, match=r"no defs.yaml in defs/no_such_form/ \(forms: .*fktk_"):
        load_form_spec("no_such_form")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r.update(source=["app_type"]),
            r"spec.source: Input should be a valid dictionary",
        ),
        (
            lambda r: r["source"].update(fields=["dateField_lgkieplu"]),
            r"spec.source.fields: Input should be a valid dictionary",
        ),
        (
            lambda r: r["filters"].update(search_fields=["selectField_lgkiepju"]),
            r"spec.filters.search_fields: Input should be a valid dictionary",
        ),
        (
            lambda r: r.update(filter={}),
            r"spec.filter: Extra inputs are not permitted \(known here: title, example, source, "
            r"filters, formats, target\)",
        ),
        (
            lambda r: r["filters"].update(lookback=30),
            r"spec.filters.lookback: Extra inputs are not permitted \(known here: .*lookback_days",
        ),
        (
            lambda r: r["target"]["columns"][0].update(fromat="amount"),
            r"spec.target.columns\[0\].fromat: Extra inputs are not permitted \(known here: name, "
            r"label, value, format,",
        ),
        (
            lambda r: r["source"]["fields"]["numberField_lgkiepjv"].update(maximm=5),
            r"spec.source.fields.numberField_lgkiepjv.maximm: Extra inputs are not permitted "
            r"\(known here: label, kind, options, prefix, maximum, children\)",
        ),
        (
            lambda r: r["target"].update(columns={"a": 1}),
            r"spec.target.columns: Input should be a valid list",
        ),
        (
            lambda r: r["filters"].update(instance_status="COMPLETE"),
            r"spec.filters.instance_status: Input should be 'COMPLETED', 'ERROR', 'RUNNING' or "
            r"'TERMINATED'",
        ),
        (
            lambda r: r["filters"].update(approved_result="refuse"),
            r"spec.filters.approved_result: Input should be 'agree' or 'disagree'",
        ),
        (
            lambda r: r["filters"].update(lookback_days="many"),
            r"spec.filters.lookback_days: Input should be a valid integer",
        ),
        (
            lambda r: r["filters"].update(lookback_days=0),
            r"spec.filters.lookback_days: must be a whole number of days greater than 0",
        ),
        (
            lambda r: r["source"]["fields"]["selectField_lgkiepju"]["options"].update(是=0),
            r"spec.source.fields.selectField_lgkiepju.options: each choice's share must be",
        ),
        (
            lambda r: r["target"]["columns"][1].update(pattern="(FKTK"),
            r"spec.target.columns\[1\].pattern: '\(FKTK' is not a regular expression",
        ),
        (
            lambda r: r["target"]["columns"][2].update(earliest="2020-02-30"),
            r"spec.target.columns\[2\].earliest: '2020-02-30' is not a date \(YYYY-MM-DD\)",
        ),
    ],
)
def test_a_malformed_spec_names_its_file_the_field_and_what_was_expected(tmp_path, change, message):
    folder = form_copy(tmp_path, change)
    with pytest.raises(SpecError, match=message) as raised:
        load_form_spec(folder)
    assert str(folder / "defs.yaml") in str(raised.value)


def test_a_spec_typo_in_dg_check_defs_names_the_file_the_line_the_field_and_the_type(tmp_path):
    """What a person editing a form sees from Dagster's own check, not only from our loader."""
    from dd_refund_pipeline_tests.ground_truth import ROOT

    project = tmp_path / "project"
    shutil.copytree(
        ROOT,
        project,
        ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.db", ".dagster*", "bench"),
    )
    defs = project / "dd_refund_pipeline/defs/fktk_refund/defs.yaml"
    text = defs.read_text(encoding="utf-8")
    assert "\n      lookback_days: 25\n" in text
    defs.write_text(text.replace("lookback_days: 25", "lookback_days: many"), encoding="utf-8")
    line = defs.read_text(encoding="utf-8").splitlines().index("      lookback_days: many") + 1
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "check", "defs"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert (
        f"{defs}:{line} - dd_refund_pipeline.components.form_sync.YidaFormSync "
        "attributes.spec.filters.lookback_days 'many' is not of type 'integer'"
    ) in done.stdout + done.stderr


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
