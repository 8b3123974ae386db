"""A form is one folder, its column types are written once, and Dagster finds the forms."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from dd_refund_pipeline.components.form_sync import project_forms
from dd_refund_pipeline.forms.spec import (
    DEFS_DIR,
    EXAMPLES_DIR,
    SpecError,
    load_form_spec,
    parse_ddl_columns,
)
from dd_refund_pipeline.forms.table_sql import FormTables
from dd_refund_pipeline.sqlfiles import SQL_DIR, ddl_for, split_statements, sqlite_ddl
from dd_refund_pipeline_tests.test_form_spec import form_copy

FORM_FOLDERS = sorted(p.parent for d in (DEFS_DIR, EXAMPLES_DIR) for p in d.glob("*/defs.yaml"))
SHARED_TABLES = ["rejects_table.sql", "sync_table.sql", "yida_api_calls.sql"]


def test_each_form_is_one_folder_holding_its_names_spec_and_ddl():
    assert len(FORM_FOLDERS) >= 2
    for folder in FORM_FOLDERS:
        table = load_form_spec(folder).target.table
        files = sorted(p.name for p in folder.iterdir() if p.name != "__pycache__")
        assert files == sorted(["defs.yaml", f"{table}.sql"])
    # No second place a form's spec or table types could live.
    assert not list((DEFS_DIR.parent / "forms").glob("*.yaml"))
    assert not (SQL_DIR / "sqlite").exists()
    assert not list(SQL_DIR.glob("hc_dd_*.sql"))


def _created(ddl: str, tmp_path: Path, name: str) -> sa.Inspector:
    engine = sa.create_engine(f"sqlite:///{tmp_path / name}.db")
    with engine.begin() as conn:
        for statement in split_statements(ddl):
            conn.execute(sa.text(statement))
    return sa.inspect(engine)


def _mysql_ddls() -> list[tuple[str, str]]:
    # conftest turns the worked examples on: project_forms() holds both forms.
    forms = [(form.spec.target.table, form.spec.target.ddl) for form in project_forms()]
    shared = [(name, (SQL_DIR / name).read_text(encoding="utf-8")) for name in SHARED_TABLES]
    return forms + shared


@pytest.mark.parametrize(("name", "mysql"), _mysql_ddls())
def test_the_sqlite_table_is_derived_from_the_mysql_ddl_column_for_column(tmp_path, name, mysql):
    """SQLite gets the same columns, nullability, unique keys and indexes as MySQL."""
    mysql = mysql.replace("{", "").replace("}", "")  # the shared tables' name placeholders
    inspector = _created(sqlite_ddl(mysql), tmp_path, "derived")
    [table] = inspector.get_table_names()
    declared = parse_ddl_columns(mysql)
    columns = {c["name"]: c for c in inspector.get_columns(table)}
    assert list(columns) == list(declared)
    for column in declared.values():
        assert columns[column.name]["nullable"] == column.nullable or column.name == "id"
        family = column.family
        sqlite_type = str(columns[column.name]["type"])
        expected = {"integer": "INTEGER", "decimal": "TEXT"}.get(family, column.sql_type)
        assert sqlite_type.replace(" ", "") == expected, column
    unique = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)}
    unique |= {tuple(inspector.get_pk_constraint(table)["constrained_columns"])}
    for line in mysql.splitlines():
        if "UNIQUE KEY" in line or "PRIMARY KEY (" in line:
            keys = tuple(k.strip(" `") for k in line.split("(")[1].split(")")[0].split(","))
            assert keys in unique, line
    indexes = {tuple(i["column_names"]) for i in inspector.get_indexes(table)}
    for line in mysql.splitlines():
        if line.strip().startswith("KEY "):
            keys = tuple(k.strip(" `") for k in line.split("(")[1].split(")")[0].split(","))
            assert keys in indexes, line


def test_a_type_changed_in_the_mysql_ddl_changes_the_sqlite_table_too(tmp_path):
    [refunds] = [form for form in project_forms() if form.spec.name == "fktk_refund"]
    tables = FormTables.of(refunds.spec)
    widened = tables.ddl.replace("`status` VARCHAR(32)", "`status` VARCHAR(48)")
    assert widened != tables.ddl
    derived = ddl_for(widened, "sqlite")
    inspector = _created(derived, tmp_path, "widened")
    status = next(c for c in inspector.get_columns("hc_dd_fktk") if c["name"] == "status")
    assert str(status["type"]) == "VARCHAR(48)"


def test_dagster_s_component_loading_finds_every_form_folder():
    """``project_forms()`` is Dagster's tree asked for every YidaFormSync, not a second reader."""
    names = {form.spec.name for form in project_forms()}
    assert names == {folder.name for folder in FORM_FOLDERS}


def test_a_ddl_the_derivation_cannot_read_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="not a CREATE TABLE statement"):
        sqlite_ddl("ALTER TABLE x ADD y INT")
    with pytest.raises(ValueError, match="cannot read the column definition"):
        sqlite_ddl("CREATE TABLE IF NOT EXISTS `t` (\n  `a` int NOT NULL\n)")
    # Through a form's spec: named as the form's DDL, not a bare parser error.
    folder = form_copy(tmp_path, lambda spec: None)
    (folder / "hc_dd_fktk.sql").write_text("CREATE TABLE `hc_dd_fktk` (\n  `a` int\n)", "utf-8")
    with pytest.raises(SpecError, match=r"target.table: its DDL hc_dd_fktk.sql: .*cannot read"):
        load_form_spec(folder)
