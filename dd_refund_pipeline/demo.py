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
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import warnings
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.server import EmulatorServer
from dd_refund_pipeline.emulator.state import EmulatorConfig
from dd_refund_pipeline.lib.alerts import days_listed
from dd_refund_pipeline.load.loader import safe_url
from dd_refund_pipeline.settings import (
    DATABASE_URL_ENV,
    EXAMPLE_FORMS_ENV,
    PARTITIONS_START_ENV,
    PROJECT_ROOT,
    dagster_home,
    database_url,
    demo_database_url,
)

DEMO_INSTANCES = 3000
DEMO_SEED = 7
# The days the demo's forms are filed over, up to its world's moment.
DEMO_DAYS = 60
# ``off``: no robot in the demo, to see how an unsent alert shows.
DEMO_ROBOT_ENV = "DD_REFUND_DEMO_ROBOT"
# A few damaged forms, so that the quarantine and its check have something to show: about 8
# of the 170 that match in a look-back.
DEMO_MALFORMED_RATE = 0.05
# The summary's days, this many to a line: a form's look-back fits a few lines.
DAYS_PER_LINE = 5
# Where make run keeps each run's full log, under DAGSTER_HOME.
RUN_LOGS_FOLDER = "run_logs"
# Dagster's own switch for its telemetry uploader (dagster._core.telemetry_upload).
TELEMETRY_OFF_ENV = "DAGSTER_DISABLE_TELEMETRY"


def prepare_home() -> None:
    """``DAGSTER_HOME`` with the shipped instance settings, and the demo database unless named.

    The demo is the one place with a default database: it sets ``DD_REFUND_DATABASE_URL`` to a
    SQLite file under the Dagster home, explicitly, for everything it starts.
    """
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    # The webserver and the daemon upload (and delete) whatever lies in $DAGSTER_HOME/logs to
    # Dagster's telemetry service, whatever dagster.yaml says; only this setting stops them.
    os.environ[TELEMETRY_OFF_ENV] = "1"
    if not os.environ.get(DATABASE_URL_ENV, "").strip():
        os.environ[DATABASE_URL_ENV] = demo_database_url()
    # The partitions begin where the demo's forms do, not in 2024: the UI's bar shows the demo's
    # days, not a thousand missing ones.
    os.environ.setdefault(PARTITIONS_START_ENV, demo_partitions_start().isoformat())
    # The demo shows the worked example (费用报销单 → hc_dd_fybx) beside the refund form.
    os.environ.setdefault(EXAMPLE_FORMS_ENV, "on")
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml.example", config)


def demo_world_as_of(now: datetime | None = None) -> datetime:
    """The moment the demo's Yida stands at: the start of today (Asia/Shanghai).

    The emulator makes the same forms from the same seed and moment, so every start on one day
    serves the same forms and a second ``make run`` inserts and updates nothing. The next day it
    stands a day further: that day's forms, and the approvals finished since, arrive; nothing
    already there changes otherwise.
    """
    today = (now or datetime.now(tz=CHINA_TZ)).astimezone(CHINA_TZ).date()
    return datetime(today.year, today.month, today.day, tzinfo=CHINA_TZ)


def demo_partitions_start(now: datetime | None = None) -> date:
    """The first day the demo's emulator has forms for (it makes ``DEMO_DAYS`` days of them)."""
    return demo_world_as_of(now).date() - timedelta(days=DEMO_DAYS - 1)


def start_emulator(port: int = 0, now: datetime | None = None) -> EmulatorServer | None:
    """The emulator with demo forms, and the settings that point the pipeline at it.

    Nothing starts when ``DINGTALK_BASE_URL`` is set: then the pipeline talks to that service.
    """
    if os.environ.get("DINGTALK_BASE_URL"):
        return None
    config = EmulatorConfig.from_env(
        instances=DEMO_INSTANCES,
        seed=DEMO_SEED,
        malformed_rate=DEMO_MALFORMED_RATE,
        days=DEMO_DAYS,
    )
    server = EmulatorServer(config, port=port, as_of=demo_world_as_of(now)).start()
    os.environ.update(
        DINGTALK_BASE_URL=server.base_url,
        DINGTALK_APP_KEY=config.app_key,
        DINGTALK_APP_SECRET=config.app_secret,
        YIDA_SYSTEM_TOKEN=config.system_token,
    )
    # DD_REFUND_DEMO_ROBOT=off: the demo as a deployment without a robot (alerts unsent).
    if os.environ.get(DEMO_ROBOT_ENV, "on").strip().lower() != "off":
        os.environ.update(
            DINGTALK_ROBOT_BASE_URL=server.base_url,
            DINGTALK_ROBOT_ACCESS_TOKEN=config.robot_access_token,
            DINGTALK_ROBOT_SECRET=config.robot_secret or "",
        )
    served = ", ".join(
        f"{len(store.instances)} {store.spec.name}" for store in server.state.stores.values()
    )
    print(f"Yida emulator on {server.base_url} with demo forms: {served} (seed {DEMO_SEED})")
    return server


def run() -> int:
    """Materialize every form's look-back days once, then print a summary (the log to a file)."""
    # First: the definitions read the demo's settings (its partitions' start) when imported.
    prepare_home()
    import dagster as dg

    from dd_refund_pipeline.components.form_sync import project_forms
    from dd_refund_pipeline.components.lookback_schedule import range_run_request
    from dd_refund_pipeline.definitions import defs

    # Dagster's notices about its own API's maturity are for the project's developers, not for
    # someone running the demo.
    for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
        warnings.filterwarnings("ignore", category=category)
    server = start_emulator()
    succeeded = True
    try:
        for form in project_forms():
            keys = form.lookback_days(datetime.now(tz=CHINA_TZ))
            print(
                f"\n{form.job}: {keys[0]}...{keys[-1]} into {form.table_asset} at "
                f"{safe_url(database_url())}"
            )
            job = defs().resolve_job_def(form.job)
            with dg.DagsterInstance.get() as instance:
                result = job.execute_in_process(
                    tags=range_run_request(keys).tags,
                    instance=instance,
                    raise_on_error=False,
                    # The full log goes to a file (below); the terminal gets a line per step.
                    run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
                )
                log = write_run_log(instance, result.run_id)
            print_steps(result)
            print_summary(result, form.table_asset, form.rows_asset)
            print(f"full log: {log}")
            succeeded = succeeded and result.success
        print(f"\nfiles: {dagster_home() / 'dd_refund_storage'}")
        print("UI: make dev, then http://127.0.0.1:3000")
        return 0 if succeeded else 1
    finally:
        if server is not None:
            server.stop()


def write_run_log(instance: object, run_id: str) -> Path:
    """Every event of the run, a line each, in ``$DAGSTER_HOME/run_logs/run-<id>.log``.

    Not ``$DAGSTER_HOME/logs``: that folder is Dagster's telemetry queue.
    """
    import dagster as dg

    assert isinstance(instance, dg.DagsterInstance)
    path = dagster_home() / RUN_LOGS_FOLDER / f"run-{run_id[:8]}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            text = entry.user_message or (event.message if event and event.message else "")
            when = datetime.fromtimestamp(entry.timestamp, tz=CHINA_TZ)
            level = logging.getLevelName(entry.level)
            out.write(f"{when:%H:%M:%S} {level:<7} {entry.step_key or '-'}: {text}\n")
    return path


def print_steps(result: object) -> None:
    """One line per step: how it ended and how long it took."""
    import dagster as dg

    assert isinstance(result, dg.ExecuteInProcessResult)
    for record in result.all_events:
        if record.event_type in (
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
        ):
            done = "done" if record.event_type == dg.DagsterEventType.STEP_SUCCESS else "FAILED"
            seconds = getattr(record.event_specific_data, "duration_ms", None)
            took = f" in {seconds / 1000:.1f} s" if seconds else ""
            print(f"  {record.step_key}: {done}{took}")


def print_summary(result: object, table_asset: str, rows_asset: str) -> None:
    """Rows per day, what the load did, each check's verdict, and where the table is."""
    import dagster as dg

    assert isinstance(result, dg.ExecuteInProcessResult)
    table = result.asset_materializations_for_node(table_asset)
    rows = {m.partition: int(m.metadata["rows_of_day"].value) for m in table}  # type: ignore[arg-type]
    print(f"\nrows per day in {table_asset}:")
    days = [f"{day} {count:>4}" for day, count in sorted(rows.items())]
    for start in range(0, len(days), DAYS_PER_LINE):
        print("  " + "   ".join(days[start : start + DAYS_PER_LINE]))
    print(f"  total {sum(rows.values())}")
    if table:
        loaded = {k: table[0].metadata[k].value for k in ("inserted", "updated", "unchanged")}
        cleaned = result.asset_materializations_for_node(rows_asset)
        rejected = cleaned[0].metadata["rejected_records"].value if cleaned else 0
        print(
            f"  inserted {loaded['inserted']}, updated {loaded['updated']}, unchanged "
            f"{loaded['unchanged']}, rejected {rejected} (a rerun inserts and updates nothing)"
        )
    print("\nchecks:")
    for line in check_lines(result.get_asset_check_evaluations()):
        print(f"  {line}")
    print(f"\nrun {'succeeded' if result.success else 'FAILED'}: {result.run_id}")
    print(
        f"table: {safe_url(database_url())} ({table_asset}; rejects in {table_asset}_rejects, "
        f"sync state in {table_asset}_sync)"
    )


def check_lines(evaluations: Sequence[Any]) -> list[str]:
    """One line per check: passed, or the days it failed on (per-day checks name their days)."""
    grouped: dict[str, list[Any]] = {}
    for evaluation in evaluations:
        name = f"{evaluation.asset_key.to_user_string()}.{evaluation.check_name}"
        grouped.setdefault(name, []).append(evaluation)
    lines = []
    for name, found in grouped.items():
        failed = [e for e in found if not e.passed]
        days = len({e.partition for e in found if e.partition})
        scope = f" ({days} days)" if days else ""
        if not failed:
            lines.append(f"{name}: passed{scope}")
            continue
        failing = sorted(str(e.partition) for e in failed if e.partition)
        where = f" on {len(failing)} of {days} days: {days_listed(failing)}" if failing else ""
        lines.append(f"{name}: FAILED ({failed[0].severity.value}){where}")
    return lines


def dev_command(port: int, emulator_port: int) -> list[str]:
    """``make dev`` on the given ports, as a command (for tools that start it themselves)."""
    return [
        sys.executable,
        "-m",
        "dd_refund_pipeline.demo",
        "dev",
        "--port",
        str(port),
        "--emulator-port",
        str(emulator_port),
    ]


def busy(port: int) -> bool:
    """True when something already listens on ``127.0.0.1:port``."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def dev(port: int, emulator_port: int) -> int:
    """``dg dev`` with the emulator behind it; Ctrl-C (or SIGTERM) stops both, children included."""
    own_emulator = not os.environ.get("DINGTALK_BASE_URL")
    wanted = [port, emulator_port] if own_emulator else [port]
    taken = [p for p in wanted if busy(p)]
    if taken:
        print(
            f"make dev: {_free_ports_hint(taken, port, emulator_port, own_emulator)}",
            file=sys.stderr,
        )
        return 2
    prepare_home()
    server = start_emulator(port=emulator_port if own_emulator else 0)
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


def _free_ports_hint(taken: list[int], port: int, emulator_port: int, own_emulator: bool) -> str:
    """Which ports are busy, and a command whose ports are all free (both, when both are ours)."""
    ports = " and ".join(str(p) for p in taken)
    verb = "is" if len(taken) == 1 else "are"
    web = _next_free(port, set())
    command = f"make dev PORT={web}"
    if own_emulator:
        command += f" EMULATOR_PORT={_next_free(emulator_port, {web})}"
    return (
        f"port {ports} {verb} already in use (another make dev or emulator?); "
        f"these are free: {command}"
    )


def _next_free(port: int, reserved: set[int]) -> int:
    while busy(port) or port in reserved:
        port += 1
    return port


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
    """``python -m dd_refund_pipeline.demo run|dev``: the demo's two commands."""
    parser = argparse.ArgumentParser(prog="python -m dd_refund_pipeline.demo")
    parser.add_argument("command", choices=("run", "dev"))
    parser.add_argument("--port", type=int, default=3000, help="webserver port for dev")
    parser.add_argument("--emulator-port", type=int, default=8787, help="emulator port for dev")
    args = parser.parse_args(argv)
    return run() if args.command == "run" else dev(args.port, args.emulator_port)


if __name__ == "__main__":
    sys.exit(main())
