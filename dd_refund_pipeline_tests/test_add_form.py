"""A new form starts from what Yida says it is: ``make add-form`` and the files it writes.

The end-to-end test recreates the worked example (费用报销单) from the emulator's field list in a
copy of the project, makes the edits docs/forms.md documents, and syncs it exactly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dd_refund_pipeline.dingtalk.client import YidaClient
from dd_refund_pipeline.dingtalk.query import YidaCredentials
from dd_refund_pipeline.emulator.form_metadata import form_fields
from dd_refund_pipeline.emulator.generator import DETAILS_FIELD, REASON_FIELD
from dd_refund_pipeline.forms import scaffold
from dd_refund_pipeline.forms.spec import SpecError, form_folder, load_form_spec, parse_form_spec
from dd_refund_pipeline.forms.table_ddl import mysql_ddl
from dd_refund_pipeline.forms.yida_form import FIELD_ID, read_form, serial_rule
from dd_refund_pipeline_tests.conftest import examples
from dd_refund_pipeline_tests.ground_truth import (
    ROOT,
    materialize_command,
    pipeline_env,
    without_pipeline_settings,
)
from dd_refund_pipeline_tests.test_form_component import (
    DAYS,
    EXPENSE_FORM_UUID,
    expected_expense_rows,
)

EXPENSE = load_form_spec("fybx_expense")
NAME = "fybx_claims"


def written_spec(root: Path, name: str = NAME) -> dict[str, Any]:
    """The ``spec:`` of the form folder ``defs/<name>`` under ``root``, as parsed YAML."""
    defs = root / "dd_refund_pipeline/defs" / name / "defs.yaml"
    return yaml.safe_load(defs.read_text(encoding="utf-8"))["attributes"]["spec"]


def rewrite_spec(root: Path, change: Any, name: str = NAME) -> None:
    """Edit the spec in ``defs/<name>/defs.yaml`` under ``root`` as a person would."""
    defs = root / "dd_refund_pipeline/defs" / name / "defs.yaml"
    document = yaml.safe_load(defs.read_text(encoding="utf-8"))
    change(document["attributes"]["spec"])
    defs.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")


def example_spec() -> dict[str, Any]:
    """The worked example's ``spec:`` as parsed YAML."""
    defs = form_folder("fybx_expense") / "defs.yaml"
    return yaml.safe_load(defs.read_text(encoding="utf-8"))["attributes"]["spec"]


def credentials_env(server) -> dict[str, str]:
    config = server.state.config
    return {
        "DINGTALK_BASE_URL": server.base_url,
        "DINGTALK_APP_KEY": config.app_key,
        "DINGTALK_APP_SECRET": config.app_secret,
        "YIDA_SYSTEM_TOKEN": config.system_token,
    }


@pytest.fixture
def yida_env(shared_emulator, monkeypatch) -> Any:
    for name, value in credentials_env(shared_emulator).items():
        monkeypatch.setenv(name, value)
    return shared_emulator


def run_scaffold(root: Path, *argv: str, capsys) -> tuple[int, str, str]:
    # The Makefile passes the form a new one is shaped like (LIKE, the refund form by default).
    shaped = ["new", "--like", "fktk_refund", *argv[1:]] if argv[0] == "new" else list(argv)
    code = scaffold.main(shaped, root=root)
    out, err = capsys.readouterr()
    return code, out, err


def project_copy(tmp_path: Path) -> Path:
    """The project's package, SQL and configuration, where new files may be written."""
    copy = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("dd_refund_pipeline", "sql"):
        shutil.copytree(ROOT / part, copy / part, ignore=ignore)
    for name in ("pyproject.toml", "workspace.yaml"):
        shutil.copy(ROOT / name, copy / name)
    return copy


# -- what Yida says, read ---------------------------------------------------------------------


def test_the_client_pages_through_the_app_s_forms_and_reads_a_form_s_fields(shared_emulator):
    config = shared_emulator.state.config
    credentials = YidaCredentials(config.app_key, config.app_secret, config.system_token)

    async def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with YidaClient(credentials, shared_emulator.base_url) as client:
            forms = await client.list_forms(config.app_type, config.user_id, page_size=1)
            fields = await client.form_fields(config.app_type, config.user_id, EXPENSE_FORM_UUID)
            assert client.stats.calls["forms"] == 2  # one form a page: both pages, no more
            return forms, fields

    forms, fields = asyncio.run(read())
    assert {f["formUuid"] for f in forms} == set(shared_emulator.state.stores)
    form = read_form(next(f for f in forms if f["formUuid"] == EXPENSE_FORM_UUID), fields)
    assert form.title == "费用报销申请"
    by_id = {c.id: c for c in form.components}
    for field in EXPENSE.source.fields.values():
        got = by_id[field.id]
        assert (got.label, got.kind, got.prefix) == (field.label, field.kind, field.prefix)
        assert got.options == tuple(field.options)
    [table] = [c for c in form.components if c.kind == "table"]
    assert [c.kind for c in table.children] == ["text", "number"]


def test_a_serial_rule_becomes_its_prefix_and_the_pattern_of_its_numbers():
    rule = [
        {"ruleType": "character", "value": "FY.BX"},
        {"ruleType": "date", "dateFormat": "yyyyMMdd"},
        {"ruleType": "autoCount", "digitCount": 4},
    ]
    assert serial_rule({"serialNumberRule": rule}) == ("FY.BX", r"^FY\.BX\d{8}\d{4,}$")
    # A part we cannot read gives no pattern rather than a wrong one.
    assert serial_rule({"serialNumberRule": [*rule, {"ruleType": "formula"}]})[1] is None
    assert serial_rule({}) == ("", None)


any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
component_keys = st.sampled_from(
    ["fieldId", "componentName", "label", "props", "children", "behavior"]
)
components = st.dictionaries(component_keys, any_json | st.text(max_size=20), max_size=6)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.lists(components, max_size=5), summary=st.dictionaries(st.text(), any_json))
def test_any_field_list_reads_without_raising_and_keeps_only_usable_ids(fields, summary):
    form = read_form(summary, fields)
    for component in form.components:
        assert FIELD_ID.fullmatch(component.id)
        assert isinstance(component.label, str) and component.label


# -- the files written --------------------------------------------------------------------------


def test_the_scaffold_writes_the_spec_table_and_component_and_says_what_is_left(
    yida_env, tmp_path, capsys
):
    code, out, err = run_scaffold(
        tmp_path, "new", "--form-uuid", EXPENSE_FORM_UUID, "--name", NAME, capsys=capsys
    )
    assert code == 0, err
    folder = tmp_path / "dd_refund_pipeline/defs/fybx_claims"
    assert sorted(p.name for p in folder.iterdir()) == ["defs.yaml", "hc_dd_fybx_claims.sql"]
    spec = load_form_spec(folder)
    # Every component with its label and kind, choices, the serial's prefix: as Yida said.
    for field in EXPENSE.source.fields.values():
        got = spec.source.fields[field.id]
        assert (got.label, got.kind, got.prefix, list(got.options)) == (
            field.label,
            field.kind,
            field.prefix,
            list(field.options),
        )
    assert spec.source.form_uuid == EXPENSE_FORM_UUID
    assert spec.target.column("order_no_new").pattern == r"^FYBX\d{8}\d{3,}$"
    assert spec.filters.search_fields == {}  # which forms count is a person's decision
    defs = yaml.safe_load((folder / "defs.yaml").read_text(encoding="utf-8"))
    assert defs["attributes"]["form"] == NAME
    # The sub-table and the list-valued components are named as not mapped, with the children.
    assert "tableField_lgkiepk5 费用明细 (TableField): a sub-table, not mapped" in out
    assert "textField_lgkiepk6 费用项目" in out and "numberField_lgkiepk7 金额" in out
    assert "employeeField_lgkiepk2 申请人 (EmployeeField)" in out
    assert "(3 API calls)" in out  # a token, one page of forms, the fields
    for decision in ("filters.search_fields", "Document_Type", "radio_field_lh8x2kq4"):
        assert decision in out
    code, out, err = run_scaffold(
        tmp_path, "new", "--form-uuid", EXPENSE_FORM_UUID, "--name", NAME, capsys=capsys
    )
    assert code == 2 and "exists already (--force writes it again)" in err


def test_without_a_form_uuid_it_lists_the_app_s_forms(yida_env, tmp_path, capsys):
    code, out, _ = run_scaffold(tmp_path, "new", capsys=capsys)
    assert code == 0
    assert f"{EXPENSE_FORM_UUID}  费用报销申请" in out
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_form_and_missing_credentials_are_one_line_each(
    yida_env, tmp_path, capsys, monkeypatch
):
    code, _, err = run_scaffold(
        tmp_path, "new", "--form-uuid", "FORM-NOPE", "--name", NAME, capsys=capsys
    )
    assert code == 2 and "FORM-NOPE is not a process form of app" in err
    monkeypatch.delenv("DINGTALK_APP_SECRET")
    code, _, err = run_scaffold(
        tmp_path, "new", "--form-uuid", EXPENSE_FORM_UUID, "--name", NAME, capsys=capsys
    )
    assert code == 2 and "set DINGTALK_APP_SECRET" in err


def test_the_system_token_in_a_metadata_get_never_reaches_the_logs(yida_env, tmp_path, capsys):
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler, logger = Keep(level=logging.DEBUG), logging.getLogger("httpx")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        code, _, err = run_scaffold(
            tmp_path, "new", "--form-uuid", EXPENSE_FORM_UUID, "--name", NAME, capsys=capsys
        )
        assert code == 0, err
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    token = yida_env.state.config.system_token
    assert any("formFields" in line for line in records)
    assert not any(token in line for line in records)


def test_the_table_is_written_again_only_where_the_scaffold_wrote_it(yida_env, tmp_path, capsys):
    run_scaffold(tmp_path, "new", "--form-uuid", EXPENSE_FORM_UUID, "--name", NAME, capsys=capsys)
    rewrite_spec(tmp_path, lambda spec: spec["target"]["columns"][-1].update(name="reason"))
    ddl = tmp_path / "dd_refund_pipeline/defs/fybx_claims/hc_dd_fybx_claims.sql"
    code, _, err = run_scaffold(tmp_path, "table", "--name", NAME, capsys=capsys)
    assert code == 0, err
    assert "`reason` VARCHAR(1000) NULL COMMENT '事由'" in ddl.read_text(encoding="utf-8")
    # A table the team already has (hand-written DDL) is adopted, never rewritten.
    ddl.write_text("CREATE TABLE x (a INT);")
    code, _, err = run_scaffold(tmp_path, "table", "--name", NAME, capsys=capsys)
    assert code == 2 and "was not written by make add-form" in err


# -- sub-tables --------------------------------------------------------------------------------


def load_spec(raw: dict[str, Any]) -> Any:
    """The example's spec edited to ``raw``, resolved against the example's own table."""
    ddl = (form_folder("fybx_expense") / "hc_dd_fybx.sql").read_text(encoding="utf-8")
    return parse_form_spec("fybx_expense", raw, "x.yaml", ddl)


def _with_sub_table(value: str, table_id: str = "tableField_x") -> dict[str, Any]:
    raw = example_spec()
    raw["source"]["fields"][table_id] = {
        "label": "费用明细",
        "kind": "table",
        "children": {"numberField_y": {"label": "金额", "kind": "number"}},
    }
    raw["target"]["columns"][3]["value"] = value
    return raw


@pytest.mark.parametrize("value", ["{tableField_x}", "{numberField_y}"])
def test_a_spec_refuses_a_column_from_a_sub_table(value):
    with pytest.raises(
        SpecError, match=r"in the sub-table tableField_x \(费用明细\), which is not"
    ):
        load_spec(_with_sub_table(value))


def test_a_spec_written_from_the_emulator_is_served_back_with_no_component_twice():
    """A scaffolded spec lists the components every generated form carries: served once."""
    raw = _with_sub_table("{radioField_lh8x2kq4}", DETAILS_FIELD)
    raw["source"]["fields"][REASON_FIELD] = {"label": "事由", "kind": "text"}
    served = form_fields(load_spec(raw))
    ids = [c["fieldId"] for c in served]
    assert len(ids) == len(set(ids)) and REASON_FIELD in ids
    [table] = [c for c in served if c["componentName"] == "TableField"]
    assert table["fieldId"] == DETAILS_FIELD
    assert [c["fieldId"] for c in json.loads(table["children"])] == ["numberField_y"]


# -- end to end: the example form, recreated from Yida and synced exactly -----------------------


def documented_edits(raw: dict[str, Any]) -> None:
    """The edits docs/forms.md ("Adding a form") makes to the scaffold's expense spec."""
    raw["filters"]["search_fields"] = {"selectField_lh8x2kq3": "是"}
    raw["filters"]["lookback_days"] = 35
    for rule in raw["formats"]:
        if rule["new"] == "datetime_new":
            rule["format"] = "dateTime"
    columns = []
    for column in raw["target"]["columns"]:
        if column["name"] in ("select_field_lh8x2kq3", "text_field_lgkiepk1"):
            continue
        if column["name"] == "radio_field_lh8x2kq4":
            column["name"] = "expense_type"
        if column["name"] == "Document_Type":
            column["value"] = "费用报销"
        columns.append(column)
    raw["target"]["columns"] = columns


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_a_form_scaffolded_from_yida_syncs_exactly_after_the_documented_edits(
    make_emulator, mysql_url, mysql_engine, tmp_path
):
    server = make_emulator(instances=300, other_form_instances=500, seed=21)
    copy = project_copy(tmp_path)
    env = {
        **without_pipeline_settings(),
        **pipeline_env(server, mysql_url, tmp_path / "storage"),
        "DAGSTER_HOME": str(tmp_path),
        "PYTHONPATH": str(copy),  # the copy's package, with the new form in it
        # The emulator's expense form is the worked example: its identifiers are made up.
        "DD_REFUND_EXAMPLE_FORMS": "on",
    }
    python = sys.executable
    new = [python, "-m", "dd_refund_pipeline.forms.scaffold", "new", "--like", "fktk_refund"]
    done = _run([*new, "--form-uuid", EXPENSE_FORM_UUID, "--name", NAME], copy, env)
    assert done.returncode == 0, done.stderr
    rewrite_spec(copy, documented_edits)
    done = _run(
        [python, "-m", "dd_refund_pipeline.forms.scaffold", "table", "--name", NAME], copy, env
    )
    assert done.returncode == 0, done.stderr
    dg = str(Path(python).parent / "dg")
    done = _run([dg, "check", "defs"], copy, {**env, "VIRTUAL_ENV": sys.prefix})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    done = _run(
        materialize_command(f"{DAYS[0]}...{DAYS[-1]}", "group:dingtalk_fybx_claims"), copy, env
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with mysql_engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT extend_processInstanceId, order_no_new, datetime_new, expense_type, "
                "qty_count, sales_count, status, Document_Type FROM hc_dd_fybx_claims"
            )
        )
        stored = {row[0]: tuple(row[1:]) for row in rows}
    expected = expected_expense_rows(server, *DAYS)
    assert expected and stored == expected


def test_the_ddl_of_the_example_spec_is_what_its_hand_written_table_holds():
    """A table written from the example's spec holds every column the spec writes."""
    raw = example_spec()
    written = parse_form_spec("fybx_expense", raw, "x.yaml", mysql_ddl(raw)).target.columns
    assert [c.name for c in written] == EXPENSE.target.column_names
