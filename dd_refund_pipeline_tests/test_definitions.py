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
