"""First contact: ``make run`` on the embedded defaults, as a newcomer sees it.

Protected: a line per step and a summary (rows per day, inserted / updated / unchanged /
rejected, one line per check naming failing days), the full log in a file, no Dagster debug
lines or API-maturity warnings on the terminal, and a rerun that visibly changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dd_refund_pipeline.demo import dev_command
from dd_refund_pipeline_tests.ground_truth import (
    ROOT,
    dg_launch_command,
    free_port,
    materialize_command,
    without_pipeline_settings,
)


def _make_run(home) -> str:
    env = without_pipeline_settings()
    completed = subprocess.run(
        [sys.executable, "-m", "dd_refund_pipeline.demo", "run"],
        cwd=ROOT,
        env={**env, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    return completed.stdout + completed.stderr


def test_make_run_prints_a_concise_summary_and_keeps_the_log_in_a_file(tmp_path):
    first = _make_run(tmp_path / "home")
    lines = first.splitlines()
    assert len(lines) < 90, first  # two forms, about 40 lines each
    assert "DEBUG" not in first and "Warning" not in first
    for step in ("yida_refund_instances: done", "refund_payments: done", "hc_dd_fktk: done"):
        assert step in first
    for step in ("yida_expense_instances: done", "expense_claims: done", "hc_dd_fybx: done"):
        assert step in first
    assert "hc_dd_fktk.no_rejected_records: FAILED (WARN) on" in first  # the demo's damaged forms
    assert "rows per day in hc_dd_fybx:" in first
    logs = [line.removeprefix("full log: ") for line in lines if line.startswith("full log: ")]
    assert len(logs) == 2 and "STEP_SUCCESS" not in first
    for log in logs:
        assert log.startswith(str(tmp_path))
        assert "materialize" in Path(log).read_text(encoding="utf-8")
    counts = [line.strip() for line in lines if line.strip().startswith("inserted ")]
    assert len(counts) == 2 and not any(line.startswith("inserted 0,") for line in counts)

    rerun = _make_run(tmp_path / "home")
    counts = [line.strip() for line in rerun.splitlines() if line.strip().startswith("inserted ")]
    assert len(counts) == 2
    assert all(line.startswith("inserted 0, updated 0, unchanged ") for line in counts)


@pytest.mark.parametrize("command", [materialize_command, dg_launch_command])
def test_plain_dagster_without_settings_says_which_in_a_few_lines(tmp_path, command):
    env = without_pipeline_settings()
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml.example").read_text())
    completed = subprocess.run(
        command("2026-11-01...2026-11-02"),
        cwd=ROOT,
        env={**env, "DAGSTER_HOME": str(tmp_path), "VIRTUAL_ENV": str(ROOT / ".venv")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert "Traceback" not in output and len(output.splitlines()) < 15, output
    settings = "DD_REFUND_DATABASE_URL, DINGTALK_APP_KEY, DINGTALK_APP_SECRET, YIDA_SYSTEM_TOKEN"
    assert f"these settings are not set: {settings}." in output
    assert "make emulator" in output


def _processes_of(home: Path) -> list[int]:
    """Processes whose environment names ``home`` as DAGSTER_HOME (what make dev started)."""
    marker = f"DAGSTER_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def test_make_dev_names_a_busy_port_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "dd_refund_pipeline.demo",
                "dev",
                "--port",
                str(free_port()),
                "--emulator-port",
                str(port),
            ],
            cwd=ROOT,
            env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        f"make dev: port {port} is already in use (another make dev or emulator?); "
        f"choose another: make dev EMULATOR_PORT={port + 1}"
    ]


def test_make_dev_on_chosen_ports_stops_all_it_started_on_sigterm(tmp_path):
    port, emulator_port = free_port(), free_port()
    home = tmp_path / "home"
    env = without_pipeline_settings()
    dev = subprocess.Popen(
        dev_command(port, emulator_port),
        cwd=ROOT,
        env={**env, "DAGSTER_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).is_success:
                    break
            time.sleep(1)
        else:
            raise AssertionError("make dev did not answer")
        assert httpx.get(f"http://127.0.0.1:{emulator_port}/_emulator/state", timeout=5).is_success
        assert len(_processes_of(home)) > 2  # the webserver, the daemon, code servers
        dev.send_signal(signal.SIGTERM)
        dev.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _processes_of(home) and time.monotonic() < deadline:
            time.sleep(1)
        assert _processes_of(home) == []
    finally:
        for pid in _processes_of(home):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGKILL)
