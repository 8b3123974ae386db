"""The finance database restarting under a load: the transaction is lost, the step retries, the
table ends exact; a database away for longer than the retries fails the run, naming it.

A MariaDB server of the test's own (its own data folder and port, started with the machine's
``mariadbd``) is crashed with SIGKILL while the load's transaction is open, after its first
day's batch, and started again a few seconds later, as a crashed or restarted server would be.
The pipeline reaches it through its URL like any other.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pymysql
import pytest
import sqlalchemy as sa

from dd_refund_pipeline.components import table_asset
from dd_refund_pipeline.defs.sensors import dingtalk_on_run_failure
from dd_refund_pipeline.emulator.server import EmulatorServer
from dd_refund_pipeline.emulator.state import EmulatorConfig
from dd_refund_pipeline.load.loader import make_engine
from dd_refund_pipeline_tests.conftest import AS_OF
from dd_refund_pipeline_tests.ground_truth import expected_rows, free_port, table
from dd_refund_pipeline_tests.test_reliability import resources, run_days

DAYS = ("2026-11-01", "2026-11-10")


class PrivateMariaDB:
    """A MariaDB server the test owns: started, crashed and started again at will."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None
        installed = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={folder / 'data'}",
                "--user=root",
                "--skip-test-db",
            ],
            capture_output=True,
            check=False,
        )
        if installed.returncode != 0:
            pytest.skip(f"cannot create a MariaDB data folder here: {installed.stderr[-300:]!r}")

    @property
    def url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/finance"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("mariadbd") or "/usr/sbin/mariadbd",
                "--no-defaults",
                f"--datadir={self.folder / 'data'}",
                f"--port={self.port}",
                f"--socket={self.folder / 'sock'}",
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-grant-tables",
                f"--log-error={self.folder / 'error.log'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not self._answers():
            if time.monotonic() > deadline:
                log = (self.folder / "error.log").read_text()
                raise AssertionError(f"MariaDB did not start: {log}")
            time.sleep(0.2)

    def _answers(self) -> bool:
        """Whether the server takes connections (and has the finance database, made if not)."""
        try:
            with pymysql.connect(host="127.0.0.1", port=self.port, user="root") as conn:
                conn.cursor().execute("CREATE DATABASE IF NOT EXISTS finance")
        except pymysql.err.OperationalError:
            return False
        return True

    def crash(self) -> None:
        """SIGKILL: open transactions are lost, InnoDB recovers at the next start."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[PrivateMariaDB]:
    server = PrivateMariaDB(tmp_path / "mariadb")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def crash_after_the_first_day(
    monkeypatch: pytest.MonkeyPatch, database: PrivateMariaDB, down_s: float | None
) -> list[float]:
    """Crash the server once, as the load's second day is about to be written (the first day's
    batch is in the open transaction); start it again after ``down_s`` (None: not in the run).

    Returns the list that receives the crash's time.
    """
    real_load = table_asset.load_batches
    crashed: list[float] = []

    def load(engine: sa.Engine, spec: Any, days: Iterator[Any], **kwargs: Any) -> Any:
        def crashing(days: Iterator[Any]) -> Iterator[Any]:
            for number, day in enumerate(days):
                if number == 1 and not crashed:
                    database.crash()
                    crashed.append(time.monotonic())
                    if down_s is not None:
                        threading.Timer(down_s, database.start).start()
                yield day

        return real_load(engine, spec, crashing(days), **kwargs)

    monkeypatch.setattr(table_asset, "load_batches", load)
    return crashed


def _step_events(result: dg.ExecuteInProcessResult, kind: str) -> list[dg.DagsterEvent]:
    return [e for e in result.all_events if e.event_type_value == kind]


def test_mariadb_crashing_mid_load_is_retried_and_the_table_ends_exact(
    database, monkeypatch, tmp_path
):
    config = EmulatorConfig(instances=3000, seed=41)
    crashed = crash_after_the_first_day(monkeypatch, database, down_s=5)
    with EmulatorServer(config, as_of=AS_OF) as server, dg.instance_for_test() as instance:
        result = run_days(instance, resources(server, database.url, tmp_path / "files"), *DAYS)
        assert crashed, "the load never reached its second day"
        assert result.success
        [retry] = _step_events(result, "STEP_UP_FOR_RETRY")
        assert retry.step_key == "hc_dd_fktk"
        engine = make_engine(database.url)
        try:
            assert table(engine) == expected_rows(server, *DAYS)
            with engine.connect() as conn:
                # The scan's call count survived too, counted once.
                counted = conn.execute(sa.text("SELECT SUM(list_calls) FROM yida_api_calls"))
                assert counted.scalar() == server.state.stats.calls["instances"]
        finally:
            engine.dispose()


@pytest.mark.faults
def test_mariadb_away_longer_than_the_retries_fails_the_run_naming_it(
    database, monkeypatch, tmp_path
):
    """Down for good during the run: the step's two retries (exponential from 30 s with jitter:
    about one and two minutes later) find it away, and the run fails with a message, and an
    alert, naming the database's host and port."""
    config = EmulatorConfig(instances=3000, seed=41)
    crash_after_the_first_day(monkeypatch, database, down_s=None)
    with EmulatorServer(config, as_of=AS_OF) as server, dg.instance_for_test() as instance:
        started = time.monotonic()
        configured = resources(server, database.url, tmp_path / "files")
        result = run_days(instance, configured, *DAYS)
        failed_after_s = time.monotonic() - started
        assert not result.success
        assert len(_step_events(result, "STEP_UP_FOR_RETRY")) == 2
        [failure] = _step_events(result, "STEP_FAILURE")
        address = f"127.0.0.1:{database.port}"
        assert address in failure.event_specific_data.error.to_string()
        context = dg.build_run_status_sensor_context(
            sensor_name="dingtalk_on_run_failure",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
            resources={"dingtalk_robot": configured["dingtalk_robot"]},
        ).for_run_failure()
        dingtalk_on_run_failure(context)
        [message] = server.state.robot.messages
        assert address in message["markdown"]["text"]
        print(f"database away: the run failed after {failed_after_s:.0f} s, naming {address}")
