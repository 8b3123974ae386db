"""The real code location loads, in-process and through Dagster's own validator (no secrets set)."""

from __future__ import annotations

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
