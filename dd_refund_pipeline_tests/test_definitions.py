"""The real code location loads, in-process and through Dagster's own validator (no secrets set)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from dd_refund_pipeline.definitions import defs

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


def test_dagster_definitions_validate_passes_without_secrets(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    env["DAGSTER_HOME"] = str(tmp_path)
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
