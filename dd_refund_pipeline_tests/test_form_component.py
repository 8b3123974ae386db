"""A form is configuration: the YidaFormSync component, its two forms, and a typo in a spec."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
import yaml
from dagster.components.testing import create_defs_folder_sandbox

from dd_refund_pipeline.components.form_sync import YidaFormSync
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.server import EmulatorServer
from dd_refund_pipeline.forms.spec import form_folder, load_form_spec
from dd_refund_pipeline.forms.spec_model import FormSpecModel
from dd_refund_pipeline.lib.partitions import range_tags
from dd_refund_pipeline_tests.ground_truth import (
    ROOT,
    expected_form_rows,
    expected_rows,
    form_defs,
    form_table,
    matching,
    pipeline_env,
    table,
)

# The checks of a form's table with the refund form's columns (the expense form has them too).
TABLE_CHECKS = {
    "extend_process_instance_id_unique",
    "window_complete",
    "sales_count_positive",
    "order_no_new_shaped",
    "datetime_new_in_range",
    "no_rejected_records",
    "no_forms_gone_upstream",
}
# The refund form's public names: what users have materialized, bookmarked and alert on.
REFUND_ASSET_CHECKS = {
    "yida_refund_instances": {"api_quota_headroom", "forms_within_their_days"},
    "refund_payments": {"process_instance_id_unique"},
    "hc_dd_fktk": TABLE_CHECKS,
}
EXPENSE_FORM_UUID = "FORM-5Q7LK2C1B8W3MXE9T4PD6YHA0RZNU1GF3JVS"
DAYS = ("2026-11-01", "2026-11-10")


def _checks_by_asset(defs: dg.Definitions) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for asset in defs.resolve_all_asset_specs():
        found.setdefault(asset.key.to_user_string(), set())
    for assets_def in defs.resolve_asset_graph().assets_defs:
        for key in assets_def.check_keys:
            found.setdefault(key.asset_key.to_user_string(), set()).add(key.name)
    return found


@pytest.fixture(scope="module")
def location() -> dg.Definitions:
    """The whole code location, as ``definitions.py`` builds it (the example form on)."""
    from dd_refund_pipeline.definitions import defs

    return defs()


def test_the_refund_form_keeps_its_asset_keys_check_names_and_automation(location):
    checks = _checks_by_asset(location)
    for asset, names in REFUND_ASSET_CHECKS.items():
        assert checks[asset] == names, asset
    assert location.resolve_job_def("dd_refund_sync_job").name == "dd_refund_sync_job"
    schedule = location.resolve_schedule_def("dd_refund_daily_schedule")
    assert schedule.cron_schedule == "30 2 * * *"
    assert schedule.execution_timezone == "Asia/Shanghai"
    deep = location.resolve_schedule_def("dd_refund_deep_reconcile_schedule")
    assert (deep.cron_schedule, deep.execution_timezone) == ("0 4 * * 0", "Asia/Shanghai")
    assert deep.job_name == "dd_refund_deep_reconcile_job"
    sensors = {sensor.name for sensor in location.sensors}
    assert {
        "dd_refund_late_changes",
        "hc_dd_fktk_freshness_sensor",
        "dingtalk_on_run_failure",
        "dingtalk_on_failed_checks",
    } <= sensors
    graph = location.resolve_asset_graph()
    assert graph.get(dg.AssetKey("yida_refund_instances")).group_name == "dingtalk_refunds"
    table = location.resolve_assets_def("hc_dd_fktk")
    assert table.op.name == "hc_dd_fktk"  # the step key in run logs and alerts
    assert {key.to_user_string() for key in table.dependency_keys} == {
        "refund_payments",
        "yida_refund_instances",
    }


def test_the_second_form_is_its_own_group_job_schedule_and_sensors(location):
    checks = _checks_by_asset(location)
    assert checks["yida_expense_instances"] == {"api_quota_headroom", "forms_within_their_days"}
    assert checks["expense_claims"] == {"process_instance_id_unique"}
    assert checks["hc_dd_fybx"] == TABLE_CHECKS
    graph = location.resolve_asset_graph()
    groups = {
        key.to_user_string(): graph.get(key).group_name
        for key in graph.get_all_asset_keys()
        if key.to_user_string() in ("yida_expense_instances", "expense_claims", "hc_dd_fybx")
    }
    assert set(groups.values()) == {"dingtalk_expenses"}
    job = location.resolve_job_def("dd_expense_sync_job")
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == set(groups)
    sensors = {sensor.name for sensor in location.sensors}
    assert {"dd_expense_late_changes", "hc_dd_fybx_freshness_sensor"} <= sensors
    # Both forms' scans share the API's one pool (the QPS limit is the app's, not the form's).
    for name in ("yida_refund_instances", "yida_expense_instances"):
        assert location.resolve_assets_def(name).op.pool == "yida_api"


EXPENSE = load_form_spec("fybx_expense")


def expected_expense_rows(
    server: EmulatorServer, start: str, end: str
) -> dict[str, tuple[Any, ...]]:
    """The rows hc_dd_fybx must hold for the days, from the emulator's own data."""
    return expected_form_rows(server, EXPENSE, start, end)


def test_both_forms_materialize_exactly_in_one_instance(
    make_emulator, mysql_url, mysql_engine, tmp_path, monkeypatch
):
    server = make_emulator(instances=600, other_form_instances=500, seed=21)
    served = httpx.get(f"{server.base_url}/_emulator/state", timeout=5).json()["forms"]
    # 500 over the emulator's days, less those of its last day not filed yet at its moment.
    assert served[EXPENSE_FORM_UUID]["spec"] == "fybx_expense"
    assert 480 <= served[EXPENSE_FORM_UUID]["instances"] <= 500
    for name, value in pipeline_env(server, mysql_url, tmp_path / "storage").items():
        monkeypatch.setenv(name, value)
    from dd_refund_pipeline.definitions import defs

    location = defs()
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        for job in ("dd_refund_sync_job", "dd_expense_sync_job"):
            result = location.resolve_job_def(job).execute_in_process(
                instance=instance, tags=range_tags(*DAYS)
            )
            assert result.success, job
        refunds, expenses = table(mysql_engine), form_table(mysql_engine, EXPENSE)
        assert refunds == expected_rows(server, *DAYS)
        assert expenses == expected_expense_rows(server, *DAYS)
        assert expenses and all(row[0].startswith("FYBX") for row in expenses.values())
        # Expense forms filed without an amount match the filter; they are rejected, visibly.
        amountless = {
            i.pid
            for i in matching(server, *DAYS, EXPENSE)
            if not i.malformed and "numberField_lh8x2kq5" not in i.payload["data"]
        }
        with mysql_engine.connect() as conn:
            rejected = conn.execute(
                sa.text("SELECT DISTINCT process_instance_id FROM hc_dd_fybx_rejects")
            )
            assert {row[0] for row in rejected} == amountless
        assert not set(refunds) & set(expenses)
        # One quota count for the app: each form's scan is recorded under its own caller.
        with mysql_engine.connect() as conn:
            result = conn.execute(
                sa.text("SELECT caller, SUM(list_calls) FROM yida_api_calls GROUP BY caller")
            )
            callers = {row[0]: int(row[1]) for row in result}
        assert set(callers) == {"yida_refund_instances", "yida_expense_instances"}
        assert sum(callers.values()) == (server.state.stats.calls["instances"])
        # Both runs are in the one instance, each with its own job.
        runs = instance.get_run_records()
        assert sorted(record.dagster_run.job_name for record in runs) == [
            "dd_expense_sync_job",
            "dd_refund_sync_job",
        ]


def example_attributes() -> dict[str, Any]:
    """The worked example's ``defs.yaml`` attributes (its names, timing and spec), parsed."""
    text = (form_folder("fybx_expense") / "defs.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["attributes"]


def test_a_spec_typo_stops_the_load_naming_the_file_and_the_field():
    attributes = example_attributes()
    attributes["spec"]["formats"][0]["format"] = "datetime"
    with create_defs_folder_sandbox() as sandbox:
        folder = sandbox.defs_folder_path / "typo_form"
        folder.mkdir()
        (folder / "defs.yaml").write_text(
            yaml.safe_dump(
                {
                    "type": f"{YidaFormSync.__module__}.YidaFormSync",
                    "attributes": attributes,
                },
                allow_unicode=True,
            ),
            encoding="utf-8",
        )
        with pytest.raises(Exception) as raised, sandbox.build_all_defs():
            pass
    text = "".join(str(error) for error in _chain(raised.value))
    assert "typo_form/defs.yaml" in text
    assert "attributes.spec.formats.0.format" in text
    assert "Input should be 'date', 'dateTime', 'string', 'intval' or 'amount'" in text


def _chain(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    while error is not None and error not in found:
        found.append(error)
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return found


EXAMPLE_SPEC = FormSpecModel.model_validate(example_attributes()["spec"])


def test_a_spec_for_another_apps_token_is_refused():
    spec = example_attributes()["spec"]
    spec["source"]["system_token_env"] = "OTHER_APP_TOKEN"
    folder = form_folder("fybx_expense")
    component = YidaFormSync(
        form="fybx_expense",
        spec=FormSpecModel.model_validate(spec),
        group="g",
        instances_asset="a",
        rows_asset="b",
        job="j",
        schedule="s",
        late_changes_sensor="l",
        freshness_sensor="f",
        deep_reconcile_job="dj",
        deep_reconcile_schedule="ds",
    )
    with pytest.raises(ValueError, match=r"OTHER_APP_TOKEN.*YIDA_SYSTEM_TOKEN"):
        component.form_defs(folder)
    component.spec = EXAMPLE_SPEC
    component.freshness_deadline = "9am"
    with pytest.raises(ValueError, match=r"defs.yaml: freshness_deadline '9am'"):
        component.form_defs(folder)


def test_no_python_module_names_a_column_of_the_finance_table():
    """Columns come from the spec and the DDL; only the emulator's generator may know them."""
    columns = ["extend_processInstanceId", "order_no_new", "datetime_new", "qty_count"]
    columns += ["sales_count", "Document_Type"]
    offenders = [
        f"{path.relative_to(ROOT)}: {column}"
        for path in (ROOT / "dd_refund_pipeline").rglob("*.py")
        if path.name != "generator.py"
        for column in columns
        if column in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_each_form_s_schedule_re_reads_its_own_look_back():
    tick = datetime(2026, 11, 21, 2, 30, tzinfo=CHINA_TZ)
    context = dg.build_schedule_context(scheduled_execution_time=tick)
    refunds = form_defs("fktk_refund").resolve_schedule_def("dd_refund_daily_schedule")
    expenses = form_defs("fybx_expense").resolve_schedule_def("dd_expense_daily_schedule")
    [refund_run] = refunds.evaluate_tick(context).run_requests
    [expense_run] = expenses.evaluate_tick(context).run_requests
    assert range_tags("2026-10-27", "2026-11-20").items() <= refund_run.tags.items()
    assert range_tags("2026-10-17", "2026-11-20").items() <= expense_run.tags.items()
    assert expenses.job_name == "dd_expense_sync_job"


TIMING_SETTINGS = {
    "DD_REFUND_PARTITIONS_START": "2025-06-01",
    "DD_REFUND_SCHEDULE_CRON": "15 1 * * *",
    "DD_REFUND_LATE_CHANGES_INTERVAL_HOURS": "2",
    "DD_REFUND_DEEP_RECONCILE_CRON": "0 5 * * 6",
    "DD_REFUND_DEEP_RECONCILE_DAYS": "90",
}


def _timing(definitions: dg.Definitions) -> dict[str, object]:
    """What the refund form's timing became in ``definitions``."""
    refunds = definitions.resolve_assets_def("hc_dd_fktk").partitions_def
    assert isinstance(refunds, dg.DailyPartitionsDefinition)
    return {
        "start": refunds.start.date().isoformat(),
        "cron": definitions.resolve_schedule_def("dd_refund_daily_schedule").cron_schedule,
        "sweep_s": definitions.resolve_sensor_def(
            "dd_refund_late_changes"
        ).minimum_interval_seconds,
        "deep_cron": definitions.resolve_schedule_def(
            "dd_refund_deep_reconcile_schedule"
        ).cron_schedule,
    }


def test_a_form_s_timing_comes_from_the_environment_through_its_defs_yaml(monkeypatch):
    """The code location, loaded twice in one process: each load reads the environment of its
    moment (no cache keyed on it), through the ``{{ env.* }}`` templates of ``defs.yaml``."""
    from dd_refund_pipeline.definitions import defs

    for name in TIMING_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert _timing(defs()) == {
        "start": "2024-01-01",
        "cron": "30 2 * * *",
        "sweep_s": 6 * 3600,
        "deep_cron": "0 4 * * 0",
    }
    for name, value in TIMING_SETTINGS.items():
        monkeypatch.setenv(name, value)
    assert _timing(defs()) == {
        "start": "2025-06-01",
        "cron": "15 1 * * *",
        "sweep_s": 2 * 3600,
        "deep_cron": "0 5 * * 6",
    }
    # Blank is unset, as before the settings moved into the component.
    monkeypatch.setenv("DD_REFUND_SCHEDULE_CRON", " ")
    assert _timing(defs())["cron"] == "30 2 * * *"


def test_a_form_may_give_its_own_timing_instead_of_the_environment(monkeypatch):
    monkeypatch.setenv("DD_REFUND_SCHEDULE_CRON", "15 1 * * *")
    monkeypatch.setenv("DD_REFUND_DEEP_RECONCILE_DAYS", "90")
    folder = form_folder("fktk_refund")
    attributes = yaml.safe_load((folder / "defs.yaml").read_text(encoding="utf-8"))["attributes"]
    attributes.update(schedule_cron="45 3 * * *", partitions_start="2026-01-01")
    form = YidaFormSync.resolve_from_dict(attributes).form_defs(folder)
    assert form.timing.schedule_cron == "45 3 * * *"
    assert form.days.start.date().isoformat() == "2026-01-01"
    assert form.timing.deep_reconcile_days == 90  # still the environment's


def test_materialize_all_against_a_yida_with_only_the_refund_form_succeeds(
    make_emulator, mysql_url, mysql_engine, tmp_path
):
    """The team's real app has no example form: "Materialize all" (the README's command) must
    not fail on it (reproduced: invalidState.form.formNotExist on the example's steps)."""
    import subprocess

    from dd_refund_pipeline_tests.ground_truth import materialize_command, without_pipeline_settings

    server = make_emulator(instances=600, seed=21, forms=("fktk_refund",))
    env = {
        **without_pipeline_settings(),
        **pipeline_env(server, mysql_url, tmp_path / "storage"),
        "DAGSTER_HOME": str(tmp_path),
    }
    env.pop("DD_REFUND_EXAMPLE_FORMS")  # a plain deployment: the refund form only
    done = subprocess.run(
        materialize_command(f"{DAYS[0]}...{DAYS[-1]}"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "yida_expense_instances" not in done.stdout + done.stderr
    assert table(mysql_engine) == expected_rows(server, DAYS[0], DAYS[-1])


def test_every_shipped_defs_yaml_reads_its_timing_from_the_documented_variables():
    """The error messages and the README name TIMING_ENV's variables: the shipped forms (and
    what make add-form writes, ``timing_templates``) must read exactly those."""
    from dd_refund_pipeline.settings import timing_templates

    shipped = sorted((ROOT / "dd_refund_pipeline").glob("*/*/defs.yaml"))
    forms = [yaml.safe_load(p.read_text(encoding="utf-8"))["attributes"] for p in shipped]
    forms = [attributes for attributes in forms if "form" in attributes]
    assert len(forms) >= 2
    for attributes in forms:
        assert {k: attributes.get(k) for k in timing_templates()} == timing_templates()
