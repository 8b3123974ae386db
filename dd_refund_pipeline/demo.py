"""The front door for a newcomer: ``make run`` and ``make dev`` with no credentials at all.

``python -m dd_refund_pipeline.demo run``: starts the Yida emulator with demo forms (unless
``DINGTALK_BASE_URL`` points elsewhere), materializes the last 25 complete days into a demo
SQLite file (or ``DD_REFUND_DATABASE_URL``), and prints what landed and what the checks said.

``python -m dd_refund_pipeline.demo dev``: the emulator behind ``dg dev``, so the UI can
materialize, backfill, and show checks and the schedule.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from dd_refund_pipeline.dingtalk.emulator.server import EmulatorServer
from dd_refund_pipeline.dingtalk.emulator.state import EmulatorConfig
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.refunds.loader import safe_url
from dd_refund_pipeline.settings import (
    DATABASE_URL_ENV,
    PROJECT_ROOT,
    dagster_home,
    database_url,
    demo_database_url,
)

DEMO_INSTANCES = 3000
DEMO_SEED = 7
# A few damaged forms, so that the quarantine and its check have something to show.
DEMO_MALFORMED_RATE = 0.01


def prepare_home() -> None:
    """``DAGSTER_HOME`` with the shipped instance settings, and the demo database unless named.

    The demo is the one place with a default database: it sets ``DD_REFUND_DATABASE_URL`` to a
    SQLite file under the Dagster home, explicitly, for everything it starts.
    """
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    if not os.environ.get(DATABASE_URL_ENV, "").strip():
        os.environ[DATABASE_URL_ENV] = demo_database_url()
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml.example", config)


def start_emulator(port: int = 0) -> EmulatorServer | None:
    """The emulator with demo forms, and the settings that point the pipeline at it.

    Nothing starts when ``DINGTALK_BASE_URL`` is set: then the pipeline talks to that service.
    """
    if os.environ.get("DINGTALK_BASE_URL"):
        return None
    config = EmulatorConfig.from_env(
        instances=DEMO_INSTANCES, seed=DEMO_SEED, malformed_rate=DEMO_MALFORMED_RATE
    )
    server = EmulatorServer(config, port=port).start()
    os.environ.update(
        DINGTALK_BASE_URL=server.base_url,
        DINGTALK_APP_KEY=config.app_key,
        DINGTALK_APP_SECRET=config.app_secret,
        YIDA_SYSTEM_TOKEN=config.system_token,
        DINGTALK_ROBOT_BASE_URL=server.base_url,
        DINGTALK_ROBOT_ACCESS_TOKEN=config.robot_access_token,
        DINGTALK_ROBOT_SECRET=config.robot_secret or "",
    )
    print(
        f"Yida emulator on {server.base_url} with {len(server.state.store.instances)} demo "
        f"forms (seed {DEMO_SEED})"
    )
    return server


def run() -> int:
    """Materialize the last 25 complete days once, then print a summary."""
    import dagster as dg

    from dd_refund_pipeline.definitions import defs
    from dd_refund_pipeline.defs.form import FORM_SPEC
    from dd_refund_pipeline.defs.schedules import lookback_days, range_run_request

    prepare_home()
    server = start_emulator()
    try:
        keys = lookback_days(datetime.now(tz=CHINA_TZ), FORM_SPEC.filters.lookback_days)
        print(f"materializing {keys[0]}...{keys[-1]} into {safe_url(database_url())}")
        job = defs().resolve_job_def("dd_refund_sync_job")
        with dg.DagsterInstance.get() as instance:
            result = job.execute_in_process(
                tags=range_run_request(keys).tags, instance=instance, raise_on_error=False
            )
        print_summary(result)
        return 0 if result.success else 1
    finally:
        if server is not None:
            server.stop()


def print_summary(result: object) -> None:
    import dagster as dg

    assert isinstance(result, dg.ExecuteInProcessResult)
    rows = {
        m.partition: m.metadata["dagster/row_count"].value
        for m in result.asset_materializations_for_node("hc_dd_fktk")
    }
    print("\nrows per day in hc_dd_fktk:")
    for day, count in sorted(rows.items()):
        print(f"  {day}  {count}")
    print(f"  total {sum(int(v) for v in rows.values())}")  # type: ignore[call-overload]
    print("\nchecks:")
    for check in result.get_asset_check_evaluations():
        state = "passed" if check.passed else f"FAILED ({check.severity.value})"
        print(f"  {check.asset_key.to_user_string()}.{check.check_name}: {state}")
    print(f"\nrun {'succeeded' if result.success else 'FAILED'}: {result.run_id}")
    print(
        f"table: {safe_url(database_url())} (hc_dd_fktk; rejects in hc_dd_fktk_rejects, "
        "sync state in hc_dd_fktk_sync)"
    )
    print(f"files: {dagster_home() / 'dd_refund_storage'}")
    print("UI: make dev, then http://127.0.0.1:3000")


def dev(port: int) -> int:
    """``dg dev`` with the emulator behind it; Ctrl-C (or SIGTERM) stops both, children included."""
    prepare_home()
    server = start_emulator(port=8787 if not os.environ.get("DINGTALK_BASE_URL") else 0)
    os.environ.setdefault("DAGSTER_WEBSERVER_URL", f"http://127.0.0.1:{port}")
    # dg runs the project in its own environment: this one.
    os.environ["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    command = [str(Path(sys.executable).parent / "dg"), "dev", "-h", "127.0.0.1", "-p", str(port)]
    # Its own process group, so that stopping it reaches the webserver, daemon and code servers
    # it starts (which, started in the background, may ignore SIGINT and SIGTERM).
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, start_new_session=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        _stop_group(process)
        if server is not None:
            server.stop()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dd_refund_pipeline.demo")
    parser.add_argument("command", choices=("run", "dev"))
    parser.add_argument("--port", type=int, default=3000, help="webserver port for dev")
    args = parser.parse_args(argv)
    return run() if args.command == "run" else dev(args.port)


if __name__ == "__main__":
    sys.exit(main())
