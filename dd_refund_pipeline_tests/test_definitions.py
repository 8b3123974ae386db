"""The real code location loads, in-process and through Dagster's own validator (no secrets set)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from dd_refund_pipeline.definitions import defs
from dd_refund_pipeline_tests.ground_truth import validate_definitions

ROOT = Path(__file__).resolve().parents[1]
SECRET_VARS = (
    "DINGTALK_APP_SECRET",
    "YIDA_SYSTEM_TOKEN",
    "DINGTALK_ROBOT_SECRET",
    "DINGTALK_ROBOT_ACCESS_TOKEN",
    "DINGTALK_APP_KEY",
)


def test_definitions_load():
    dg.Definitions.validate_loadable(defs())


def test_dagster_definitions_validate_passes_without_secrets(tmp_path, monkeypatch):
    for name in SECRET_VARS:
        monkeypatch.delenv(name, raising=False)
    completed = validate_definitions({"DAGSTER_HOME": str(tmp_path)})
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_dg_check_defs_passes_without_secrets(tmp_path, monkeypatch):
    """``dg check defs``, where Dagster's users are going, with nothing configured."""
    for name in (*SECRET_VARS, "DD_REFUND_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "check", "defs"],
        cwd=ROOT,
        env={
            **os.environ,
            "DAGSTER_HOME": str(tmp_path),
            "VIRTUAL_ENV": str(Path(sys.executable).parent.parent),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "All definitions loaded successfully" in output
    assert "does not match the virtual environment" not in output


def test_each_form_s_assets_carry_its_owners_from_the_component():
    from dd_refund_pipeline_tests.ground_truth import form_defs

    for folder, assets in (
        ("fktk_refund", ("yida_refund_instances", "refund_payments", "hc_dd_fktk")),
        ("fybx_expense", ("yida_expense_instances", "expense_claims", "hc_dd_fybx")),
    ):
        graph = form_defs(folder).resolve_asset_graph()
        for asset in assets:
            assert graph.get(dg.AssetKey(asset)).owners == ["team:finance-data"], asset


def test_the_table_s_kind_is_the_database_it_is_in(tmp_path):
    """Reproduced before: the badge said MySQL while the demo wrote SQLite. (Each in a fresh
    process, as a code location loads.)"""
    show = (
        "import dagster as dg; from dd_refund_pipeline.definitions import defs; "
        "print(sorted(defs().resolve_asset_graph().get(dg.AssetKey('hc_dd_fktk')).kinds))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DD_REFUND_DATABASE_URL"}
    for url, kind in (
        (f"sqlite:///{tmp_path / 'demo.db'}", "sqlite"),
        ("mysql+pymysql://u:p@db:3306/finance", "mysql"),
        (None, "mysql"),
    ):
        run_env = {**env, "DAGSTER_HOME": str(tmp_path)}
        if url:
            run_env["DD_REFUND_DATABASE_URL"] = url
        shown = subprocess.run(
            [sys.executable, "-c", show], env=run_env, capture_output=True, text=True, check=True
        ).stdout
        assert shown.strip().splitlines()[-1] == f"['{kind}']", (url, shown)


def _plain_dg_list(tmp_path: Path, **extra: str) -> dict:
    """``dg list defs --json`` as a plain environment runs it: no pipeline setting set."""
    import json

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DINGTALK_", "DD_", "YIDA_"))}
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "list", "defs", "--json"],
        cwd=ROOT,
        env={
            **env,
            "DAGSTER_HOME": str(tmp_path),
            "VIRTUAL_ENV": str(Path(sys.executable).parents[1]),
            **extra,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout)


def test_a_plain_code_location_holds_the_refund_form_only(tmp_path):
    """The worked example's identifiers are made up: deployed, its schedule would fail every
    night (reproduced: it was in the production code location). On only when asked for."""
    plain = _plain_dg_list(tmp_path)
    assert {a["asset_key"] for a in plain["assets"]} == {
        "yida_refund_instances",
        "refund_payments",
        "hc_dd_fktk",
    }
    assert {s["name"] for s in plain["schedules"]} == {
        "dd_refund_daily_schedule",
        "dd_refund_deep_reconcile_schedule",
    }
    with_example = _plain_dg_list(tmp_path, DD_REFUND_EXAMPLE_FORMS="on")
    assert {"hc_dd_fybx", "expense_claims"} <= {a["asset_key"] for a in with_example["assets"]}


def test_a_spec_with_the_example_s_identifiers_is_refused_outside_the_demo(monkeypatch, tmp_path):
    import pytest
    import yaml

    from dd_refund_pipeline.components.form_sync import YidaFormSync
    from dd_refund_pipeline.forms.spec import SpecError, form_folder

    folder = form_folder("fybx_expense")
    attributes = yaml.safe_load((folder / "defs.yaml").read_text(encoding="utf-8"))["attributes"]
    monkeypatch.setenv("DD_REFUND_EXAMPLE_FORMS", "off")
    with pytest.raises(SpecError, match=r"made-up identifiers.*DD_REFUND_EXAMPLE_FORMS=on"):
        YidaFormSync.resolve_from_dict(attributes).form_defs(folder)
    # Copied without the flag but with the example's formUuid: refused too.
    copied = {**attributes, "spec": {**attributes["spec"], "example": False}}
    with pytest.raises(SpecError, match="FORM-5Q7LK2C1"):
        YidaFormSync.resolve_from_dict(copied).form_defs(folder)
    monkeypatch.setenv("DD_REFUND_EXAMPLE_FORMS", "on")
    example = YidaFormSync.resolve_from_dict(attributes).form_defs(folder)
    assert example.table_asset == "hc_dd_fybx"


def test_dagster_rebuilding_the_code_location_reuses_it_while_nothing_it_reads_changed(
    monkeypatch,
):
    """``dagster asset materialize`` reconstructs the code location five times in one run (the
    plan, the argument checks, the repository, twice each); each build read every form's folder
    again (0.12 s apiece, reproduced). Built once while the project's files and environment
    stay as they were; built again when either changes."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    built: list[Path] = []
    load = dg.load_from_defs_folder

    def counted(*, project_root: Path) -> dg.Definitions:
        built.append(project_root)
        return load(project_root=project_root)

    monkeypatch.setattr(dg, "load_from_defs_folder", counted)
    monkeypatch.setenv("DD_REFUND_TEST_FINGERPRINT", "first")
    repository = ReconstructableRepository.for_module(
        "dd_refund_pipeline.definitions", "defs", working_directory=str(ROOT)
    )
    first = repository.get_definition()
    for _ in range(4):
        again = repository.get_definition()
    assert len(built) == 1
    assert set(again.assets_defs_by_key) == set(first.assets_defs_by_key)

    monkeypatch.setenv("DD_REFUND_TEST_FINGERPRINT", "second")
    repository.get_definition()
    assert len(built) == 2, "a changed environment must build the code location anew"

    spec = ROOT / "dd_refund_pipeline" / "defs" / "fktk_refund" / "defs.yaml"
    stat = spec.stat()
    try:
        os.utime(spec, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        repository.get_definition()
    finally:
        os.utime(spec, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert len(built) == 3, "an edited form folder must build the code location anew"
