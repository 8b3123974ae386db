"""The service topology of ``deploy/``, as a team runs it: a code server started with the
Dockerfile's command, ``dagster-daemon run`` and ``dagster-webserver`` on ``deploy/workspace.yaml``,
all sharing ``deploy/dagster.yaml`` on a scratch Postgres database.

Protected: a 5-day backfill launched through the webserver's GraphQL API runs as ONE run under
the daemon and leaves the table exact; its metadata is readable over GraphQL; the daemon
evaluates the schedule (its cron set by DD_REFUND_SCHEDULE_CRON) and the sensors, whose tick logs
say when no robot is configured; nothing the webserver serves for the run holds a secret. Every
process is stopped at the end, also on failure.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest
import sqlalchemy as sa
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.server import EmulatorServer
from dd_refund_pipeline.emulator.state import EmulatorConfig
from dd_refund_pipeline.load.loader import make_engine
from dd_refund_pipeline_tests.conftest import AS_OF, _fresh
from dd_refund_pipeline_tests.ground_truth import (
    ROOT,
    expected_rows,
    free_port,
    materialize_command,
    pipeline_env,
    without_pipeline_settings,
)

DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
ASSETS = ["yida_refund_instances", "refund_payments", "hc_dd_fktk"]
LOCATION = "dd_refund_pipeline"
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def dockerfile_command(port: int) -> list[str]:
    """The image's CMD, for this machine: loopback and a free port instead of 0.0.0.0:4000."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    [cmd] = re.findall(r"^CMD (\[.*\])$", text, re.MULTILINE)
    argv = json.loads(cmd)
    replaced = {"0.0.0.0": "127.0.0.1", "4000": str(port), "dagster": str(BIN / "dagster")}
    return [replaced.get(arg, arg) for arg in argv]


def instance_env(home: Path, storage: dict[str, Any]) -> dict[str, str]:
    """The settings ``deploy/dagster.yaml`` reads: its home and its Postgres database."""
    return {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": storage["host"],
        "DAGSTER_PG_PORT": str(storage["port"]),
        "DAGSTER_PG_USERNAME": storage["user"],
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": storage["db"],
    }


@pytest.fixture
def scratch_postgres() -> Iterator[str]:
    """A database of its own on the machine's PostgreSQL, dropped at the end."""
    name = f"dd_refund_deploy_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname="postgres", **POSTGRES)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


class PrivatePostgres:
    """A PostgreSQL server of the test's own for Dagster's storage: crashed and started at will.

    Run as the machine's ``postgres`` user (PostgreSQL refuses root), in a folder of its own.
    """

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="dd_refund_pg_"))
        self.port = free_port()
        shutil.chown(self.folder, "postgres", "postgres")
        initialised = self._as_postgres(
            ["initdb", "-D", str(self.folder / "data"), "-U", "postgres", "--auth=trust"]
        )
        if initialised.returncode != 0:
            shutil.rmtree(self.folder, ignore_errors=True)
            pytest.skip(f"cannot create a PostgreSQL cluster here: {initialised.stderr[-300:]!r}")

    def _as_postgres(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        runuser = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*runuser, *argv], capture_output=True, text=True, check=False, timeout=120
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        data, log = str(self.folder / "data"), str(self.folder / "server.log")
        started = self._as_postgres(["pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start"])
        assert started.returncode == 0, started.stderr + started.stdout

    def crash(self) -> None:
        """Stop at once, as a crashed server or a lost host would: no clean shutdown."""
        self._as_postgres(["pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "stop"])

    def create_database(self, name: str) -> None:
        admin = psycopg2.connect(
            dbname="postgres", host="127.0.0.1", port=self.port, user="postgres"
        )
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        admin.close()

    def remove(self) -> None:
        self.crash()
        shutil.rmtree(self.folder, ignore_errors=True)


class Services:
    """Long-running processes in their own process groups; ``stop`` ends every one of them."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str]) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            argv,
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def assert_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited ({process.returncode}):\n{self.tail(name)}")

    def tail(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            self._wait_or_kill(process, max(0.1, deadline - time.monotonic()))
        for process in self.processes.values():
            # Children of a group leader that already exited (run workers).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    @staticmethod
    def _wait_or_kill(process: subprocess.Popen[bytes], timeout: float) -> None:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(what: str, probe: Callable[[], Any], services: Services, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        services.assert_alive()
        value = probe()
        if value:
            return value
        time.sleep(1)
    logs = "\n".join(f"--- {name}\n{services.tail(name)}" for name in services.processes)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")


class GraphQL:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/graphql"

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        reply = httpx.post(self.url, json={"query": query, "variables": variables}, timeout=30)
        reply.raise_for_status()
        body = reply.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


LOCATION_STATUS = """{ workspaceOrError { ... on Workspace { locationEntries {
  name locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
LAUNCH_BACKFILL = """mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
    ... on InvalidStepError { invalidStepKey } ... on InvalidOutputError { stepKey } } }"""
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status runs { runId status tags { key value } } } } }"""
MATERIALIZATIONS = """query($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
  ... on Asset { assetMaterializations(limit: 50) { runId partition metadataEntries {
    label ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text } } } } } }"""
RUNS_WITH_TAG = """query($key: String!, $value: String!) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}) {
    ... on Runs { results { runId status tags { key value } } } } }"""
SENSOR_TICKS = """query($name: String!) { sensorOrError(sensorSelector: {
  repositoryName: "__repository__", repositoryLocationName: "dd_refund_pipeline",
  sensorName: $name}) { ... on Sensor { sensorState { status ticks(limit: 20) {
    status skipReason runIds logEvents { events { message } } } } } } }"""

# Everything the webserver serves about a run and the code location's resources: what a person
# with the UI open (there is no login) can read.
EVERYTHING_OF_A_RUN = """query($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { runConfigYaml tags { key value } } }
  logsForRun(runId: $runId, limit: 20000) { ... on EventConnection { events {
    __typename
    ... on MessageEvent { message }
    ... on DisplayableEvent { label description metadataEntries { ...entry } }
    ... on ExecutionStepFailureEvent { error { message stack causes { message stack } } } } } }
  allTopLevelResourceDetailsOrError(repositorySelector: {
    repositoryName: "__repository__", repositoryLocationName: "dd_refund_pipeline"}) {
    ... on ResourceDetailsList { results { name configuredValues { key value type } } } }
}
fragment entry on MetadataEntry { label description __typename
  ... on TextMetadataEntry { text } ... on JsonMetadataEntry { jsonString }
  ... on MarkdownMetadataEntry { mdStr } ... on UrlMetadataEntry { url }
  ... on PathMetadataEntry { path } }"""


@pytest.fixture
def topology(request, tmp_path, mysql_url) -> Iterator[dict[str, Any]]:
    # A test may ask (indirect parametrization) for more forms, a longer load to kill, and for
    # Dagster's storage on a PostgreSQL server of its own, to crash it.
    wanted = getattr(request, "param", {})
    instances = wanted.get("instances", 800)
    postgres = PrivatePostgres() if wanted.get("private_postgres") else None
    if postgres is None:
        storage = {**POSTGRES, "db": request.getfixturevalue("scratch_postgres")}
    else:
        postgres.start()
        postgres.create_database("dagster")
        request.addfinalizer(postgres.remove)
        storage = {"host": "127.0.0.1", "port": postgres.port, "user": "postgres", "db": "dagster"}
    config = EmulatorConfig(instances=instances, seed=5, malformed_rate=0.02)
    with EmulatorServer(config, as_of=wanted.get("as_of", AS_OF)) as emulator:
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
        code_port, web_port = free_port(), free_port()
        env = {
            **without_pipeline_settings(),
            # What the image and the chart set for every Dagster process (the telemetry switch);
            # the paths below are this machine's.
            **image_environment(),
            **helm_environment("dagsterDaemon"),
            **helm_environment("dagsterWebserver"),
            **pipeline_env(emulator, mysql_url, tmp_path / "storage"),
            **instance_env(home, storage),
            "DD_REFUND_CODE_SERVER_HOST": "127.0.0.1",
            "DD_REFUND_CODE_SERVER_PORT": str(code_port),
            # The documented setting: every minute, so that the daemon's tick comes in the test.
            "DD_REFUND_SCHEDULE_CRON": "* * * * *",
            "DD_REFUND_LATE_CHANGES_INTERVAL_HOURS": "0.01",
        }
        engine = _fresh(make_engine(mysql_url))
        services = Services(env, tmp_path)
        try:
            services.start("code_server", dockerfile_command(code_port))
            # As the chart's readiness probe does: the others start once the code server answers.
            wait_for("the code server", lambda: _healthy(code_port, env), services, 120)
            workspace = str(DEPLOY / "workspace.yaml")
            services.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace])
            services.start(
                "webserver",
                [
                    str(BIN / "dagster-webserver"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(web_port),
                    "-w",
                    workspace,
                ],
            )
            graphql = GraphQL(web_port)
            wait_for("the code location", lambda: _location_loaded(graphql), services, 120)
            yield {
                "graphql": graphql,
                "services": services,
                "emulator": emulator,
                "engine": engine,
                "postgres": postgres,
            }
        finally:
            services.stop()
            engine.dispose()
        left = [name for name, p in services.processes.items() if p.poll() is None]
        assert not left, f"still running: {left}"


def _healthy(port: int, env: dict[str, str]) -> bool:
    probe = [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)]
    return subprocess.run(probe, env=env, capture_output=True, check=False).returncode == 0


def _location_loaded(graphql: GraphQL) -> bool:
    try:
        data = graphql(LOCATION_STATUS)
    except (httpx.HTTPError, AssertionError):
        return False
    entries = data["workspaceOrError"].get("locationEntries") or []
    states = [e["locationOrLoadError"] for e in entries if e["name"] == LOCATION]
    if states and states[0] and states[0]["__typename"] == "PythonError":
        raise AssertionError(f"code location failed to load: {states[0]['message']}")
    return (
        bool(states) and states[0] is not None and states[0]["__typename"] == "RepositoryLocation"
    )


def _rows_of_days(engine: sa.Engine, days: list[str]) -> dict[str, tuple[Any, ...]]:
    """hc_dd_fktk's rows of forms created on ``days`` (by the sync state), as expected_rows."""
    with engine.connect() as conn:
        synced = sa.text(
            "SELECT process_instance_id FROM hc_dd_fktk_sync WHERE partition_date IN :d"
        )
        keys = {
            r[0]
            for r in conn.execute(synced.bindparams(sa.bindparam("d", expanding=True)), {"d": days})
        }
        rows = conn.execute(
            sa.text(
                "SELECT extend_processInstanceId, order_no_new, datetime_new, qty_count, "
                "sales_count, status, Document_Type FROM hc_dd_fktk"
            )
        )
        return {r[0]: tuple(r[1:]) for r in rows if r[0] in keys}


def _metadata(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["label"]: e.get("intValue", e.get("text")) for e in entries}


def test_a_backfill_through_the_webserver_runs_once_under_the_daemon(topology):
    graphql, services, emulator = topology["graphql"], topology["services"], topology["emulator"]
    launched = graphql(
        LAUNCH_BACKFILL,
        params={"assetSelection": [{"path": [a]} for a in ASSETS], "partitionNames": DAYS},
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    def finished() -> dict[str, Any] | None:
        backfill = graphql(BACKFILL, id=backfill_id)["partitionBackfillOrError"]
        done = backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED")
        return backfill if done and backfill["runs"] else None

    backfill = wait_for("the backfill", finished, services, 300)
    [run] = backfill["runs"]  # one run for five days: the assets' single-run backfill policy
    assert run["status"] == "SUCCESS", services.tail("code_server")
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert (
        tags["dagster/asset_partition_range_start"],
        tags["dagster/asset_partition_range_end"],
    ) == (DAYS[0], DAYS[-1])

    # The table holds exactly the forms of those days.
    expected = expected_rows(emulator, DAYS[0], DAYS[-1])
    assert _rows_of_days(topology["engine"], DAYS) == expected

    # What the UI shows, read over GraphQL: the scan's cost and quota, the rows per day.
    scans = graphql(MATERIALIZATIONS, path=["yida_refund_instances"])["assetOrError"]
    scan = _metadata(
        next(m for m in scans["assetMaterializations"] if m["runId"] == run["runId"])[
            "metadataEntries"
        ]
    )
    assert scan["api_list_calls"] > 0 and scan["api_quota"].startswith("this month (")
    tables = graphql(MATERIALIZATIONS, path=["hc_dd_fktk"])["assetOrError"]["assetMaterializations"]
    per_day = {
        m["partition"]: _metadata(m["metadataEntries"])["rows_of_day"]
        for m in tables
        if m["runId"] == run["runId"]
    }
    assert set(per_day) == set(DAYS)
    assert sum(per_day.values()) == len(expected)

    # No secret in anything the webserver serves for the run: its config, tags, every event
    # (messages, metadata, errors), nor in the resources' configured values (names of EnvVars).
    served = json.dumps(graphql(EVERYTHING_OF_A_RUN, runId=run["runId"]), ensure_ascii=False)
    # The query read something: the events, their metadata, the run's config.
    assert '"events": [' in served and "api_list_calls" in served and "runConfigYaml" in served
    config = emulator.state.config
    secrets = [config.app_secret, config.system_token, *emulator.state.issued_tokens]
    assert emulator.state.issued_tokens  # the run did take access tokens
    assert [secret for secret in secrets if secret in served] == []
    assert "DINGTALK_APP_SECRET" in served  # the resource shows the variable's name instead

    # The schedule, on the daemon, with its cron from DD_REFUND_SCHEDULE_CRON (every minute).
    def scheduled_run() -> dict[str, Any] | None:
        runs = graphql(RUNS_WITH_TAG, key="dagster/schedule_name", value="dd_refund_daily_schedule")
        results = runs["runsOrError"]["results"]
        return next((r for r in results if r["status"] in ("SUCCESS", "FAILURE")), None)

    scheduled = wait_for("the scheduled run", scheduled_run, services, 180)
    assert scheduled["status"] == "SUCCESS"
    scheduled_tags = {t["key"]: t["value"] for t in scheduled["tags"]}
    assert (
        scheduled_tags["dagster/asset_partition_range_start"]
        < scheduled_tags["dagster/asset_partition_range_end"]
    )

    # The sensors, on the daemon: the late-change sweep ticked; the failed-check alert of the
    # backfill (2% damaged forms → no_rejected_records WARN) says in its tick log that no robot
    # is configured, instead of vanishing.
    def ticks(name: str) -> list[dict[str, Any]]:
        state = graphql(SENSOR_TICKS, name=name)["sensorOrError"]["sensorState"]
        return state["ticks"]

    def logged(name: str, text: str) -> bool:
        return any(
            text in event["message"]
            for tick in ticks(name)
            for event in tick["logEvents"]["events"]
        )

    wait_for(
        "a late-change sweep",
        lambda: logged("dd_refund_late_changes", "late changes since"),
        services,
        120,
    )
    wait_for(
        "the unsent alert in the tick log",
        lambda: logged("dingtalk_on_failed_checks", "DINGTALK_ROBOT_ACCESS_TOKEN is unset"),
        services,
        120,
    )
    # And on the tick list itself: a skip whose reason says so, not a tick like any other.
    reasons = [tick["skipReason"] or "" for tick in ticks("dingtalk_on_failed_checks")]
    assert any("alert NOT SENT" in reason for reason in reasons), reasons


ALL_RUNS = """{ runsOrError { ... on Runs { results { runId status jobName
  tags { key value } } } } }"""
STEP_EVENTS = """query($runId: ID!) { logsForRun(runId: $runId, limit: 20000) {
  ... on EventConnection { events { __typename ... on MessageEvent { stepKey timestamp } } } } }"""
SCANS = ("yida_refund_instances", "yida_expense_instances")
UNFINISHED = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING", "MANAGED"}


def _scan_spans(graphql: GraphQL, run_id: str) -> list[tuple[float, float]]:
    """When each raw (API) step of a run held the ``yida_api`` pool: start to end, seconds."""
    events = graphql(STEP_EVENTS, runId=run_id)["logsForRun"]["events"]
    spans: dict[str, list[float]] = {}
    for event in events:
        if event.get("stepKey") in SCANS and event["__typename"] in (
            "ExecutionStepStartEvent",
            "ExecutionStepSuccessEvent",
            "ExecutionStepFailureEvent",
        ):
            spans.setdefault(event["stepKey"], []).append(float(event["timestamp"]) / 1000)
    return [(min(times), max(times)) for times in spans.values()]


def _scheduled_tag(runs: list[dict[str, Any]], key: str) -> list[str]:
    """The values of tag ``key`` on the refund schedule's runs."""
    schedule = {"key": "dagster/schedule_name", "value": "dd_refund_daily_schedule"}
    return [
        t["value"]
        for run in runs
        if schedule in run["tags"]
        for t in run["tags"]
        if t["key"] == key
    ]


def _china_days(first: date, count: int) -> list[str]:
    return [(first + timedelta(days=n)).isoformat() for n in range(count)]


# The schedule's run reads the 25 days before today, China time, on the real clock: the forms of
# this test are made up to today's start, and its backfills are placed against that window.
_TODAY = datetime.now(tz=CHINA_TZ).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.mark.parametrize("topology", [{"as_of": _TODAY}], indirect=True)
def test_three_overlapping_runs_converge_take_turns_at_the_api_and_count_each_call_once(
    topology,
):
    """Two backfills a person launches over overlapping days and the daily schedule's 25-day
    run (the daemon ticks it every minute here), all at once on the deployed topology: every run
    succeeds, the scans take turns (pool ``yida_api``, limit 1, across both forms), the table ends
    exactly Yida's for the union of their days, and ``yida_api_calls`` counts each list call the
    API received exactly once."""
    graphql, services, emulator = topology["graphql"], topology["services"], topology["emulator"]
    # The schedule's first day now; the second backfill reaches two days into its window (the
    # date may turn while the test runs), the first overlaps the second by four days.
    scheduled_from = datetime.now(tz=CHINA_TZ).date() - timedelta(days=25)
    ranges = [
        _china_days(scheduled_from - timedelta(days=18), 12),
        _china_days(scheduled_from - timedelta(days=10), 12),
    ]
    for days in ranges:
        launched = graphql(
            LAUNCH_BACKFILL,
            params={"assetSelection": [{"path": [a]} for a in ASSETS], "partitionNames": days},
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched

    def settled() -> list[dict[str, Any]] | None:
        runs = graphql(ALL_RUNS)["runsOrError"]["results"]
        tags = [{t["key"]: t["value"] for t in run["tags"]} for run in runs]
        backfills = [run for run, tag in zip(runs, tags, strict=True) if "dagster/backfill" in tag]
        scheduled = [
            run
            for run, tag in zip(runs, tags, strict=True)
            if tag.get("dagster/schedule_name") == "dd_refund_daily_schedule"
        ]
        busy = any(run["status"] in UNFINISHED for run in runs)
        return runs if len(backfills) == 2 and scheduled and not busy else None

    runs = wait_for("the three runs", settled, services, 420)
    assert {run["status"] for run in runs} == {"SUCCESS"}, services.tail("daemon")

    spans = sorted(span for run in runs for span in _scan_spans(graphql, run["runId"]))
    assert len(spans) >= 3
    overlaps = [(a, b) for a, b in itertools.pairwise(spans) if b[0] < a[1]]
    assert overlaps == [], "two scans held the yida_api pool at once"

    scheduled_first = min(_scheduled_tag(runs, "dagster/asset_partition_range_start"))
    assert scheduled_first <= ranges[1][-1]  # the schedule's days meet the second backfill's
    scheduled_last = max(_scheduled_tag(runs, "dagster/asset_partition_range_end"))
    expected = expected_rows(emulator, ranges[0][0], scheduled_last)
    with topology["engine"].connect() as conn:
        stored = {
            r[0]: tuple(r[1:])
            for r in conn.execute(
                sa.text(
                    "SELECT extend_processInstanceId, order_no_new, datetime_new, qty_count, "
                    "sales_count, status, Document_Type FROM hc_dd_fktk"
                )
            )
        }
    assert stored == expected

    # Each list call the API received is counted once, whichever run or sensor sent it (the
    # sensors keep sweeping: compare when both counters agree, within a minute).
    def counted() -> tuple[int, int] | None:
        with topology["engine"].connect() as conn:
            total = conn.execute(sa.text("SELECT SUM(list_calls) FROM yida_api_calls")).scalar()
        received = emulator.state.stats.calls["instances"]
        return (int(total or 0), received) if int(total or 0) == received else None

    calls = wait_for("the call count to match the API's", counted, services, 60)
    print(
        f"overlapping runs: {len(runs)} runs, {len(spans)} scans one after another, "
        f"{len(stored)} rows exact, {calls[0]} list calls counted = {calls[1]} received"
    )


RUN_MESSAGES = """query($runId: ID!) { logsForRun(runId: $runId, limit: 20000) {
  ... on EventConnection { events { __typename ... on MessageEvent { message stepKey } } } } }"""
RUN_STATUS = """query($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"""


def _events(graphql: GraphQL, run_id: str) -> list[dict[str, Any]]:
    return graphql(RUN_MESSAGES, runId=run_id)["logsForRun"]["events"]


TWENTY_DAYS = [f"2026-11-{day:02d}" for day in range(1, 21)]


def _launch_backfill(graphql: GraphQL, days: list[str]) -> str:
    launched = graphql(
        LAUNCH_BACKFILL,
        params={"assetSelection": [{"path": [a]} for a in ASSETS], "partitionNames": days},
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return str(launched["backfillId"])


def _step_started(graphql: GraphQL, backfill_id: str, step: str) -> tuple[str, int] | None:
    """The run of the backfill that has started ``step``, and its process id."""
    backfill = graphql(BACKFILL, id=backfill_id)["partitionBackfillOrError"]
    for run in backfill["runs"]:
        events = _events(graphql, run["runId"])
        begun = any(
            e["__typename"] == "ExecutionStepStartEvent" and e.get("stepKey") == step
            for e in events
        )
        pids = [
            re.search(r"Started process for run \(pid: (\d+)\)", e.get("message") or "")
            for e in events
        ]
        pid = next((int(m.group(1)) for m in pids if m), None)
        if begun and pid:
            return run["runId"], pid
    return None


@pytest.mark.faults
@pytest.mark.parametrize("topology", [{"instances": 30_000}], indirect=True)
@pytest.mark.parametrize("step", ["hc_dd_fktk", "yida_refund_instances"])
def test_a_run_killed_mid_step_is_failed_retried_and_the_table_ends_exact(topology, step):
    """SIGKILL to the run's process as ``step`` (the load, or the scan) starts, as an OOM kill or
    a lost pod would: the code server reports the run failed, the daemon's run retry (one, for
    crashed runs: deploy/dagster.yaml) runs it again from the failed step, the yida_api slot of a
    scan killed mid-way is freed (free_slots_after_run_end_seconds), and the table ends exactly
    Yida's. Prints the time from the kill to the exact table."""
    graphql, services, emulator = topology["graphql"], topology["services"], topology["emulator"]
    days = TWENTY_DAYS
    backfill_id = _launch_backfill(graphql, days)
    run_id, pid = wait_for(
        f"{step} to start", lambda: _step_started(graphql, backfill_id, step), services, 240
    )
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()

    events = _events(graphql, run_id)
    assert not any(
        e["__typename"] == "ExecutionStepSuccessEvent" and e.get("stepKey") == step for e in events
    ), f"{step} had finished before the kill"

    def retried() -> dict[str, Any] | None:
        runs = graphql(RUNS_WITH_TAG, key="dagster/parent_run_id", value=run_id)
        results = runs["runsOrError"]["results"]
        return next((r for r in results if r["status"] in ("SUCCESS", "FAILURE")), None)

    retry = wait_for("the run's retry", retried, services, 600)
    recovered_s = time.monotonic() - killed_at
    assert graphql(RUN_STATUS, runId=run_id)["runOrError"]["status"] == "FAILURE"
    assert retry["status"] == "SUCCESS", services.tail("daemon")
    expected = expected_rows(emulator, days[0], days[-1])
    assert _rows_of_days(topology["engine"], days) == expected
    print(
        f"killed mid {step}: run failed and retried, {len(expected)} rows exact "
        f"{recovered_s:.0f} s after the kill"
    )


def _settled_runs(graphql: GraphQL, run_id: str) -> list[dict[str, Any]] | None:
    """The run and its retries once none is queued or running; None while one is, or while the
    webserver cannot read its storage."""
    try:
        run = graphql(RUN_STATUS, runId=run_id)["runOrError"]
        retries = graphql(RUNS_WITH_TAG, key="dagster/parent_run_id", value=run_id)
    except (httpx.HTTPError, AssertionError):
        return None
    runs = [{"runId": run_id, **run}, *retries["runsOrError"]["results"]]
    done = all(r.get("status") in ("SUCCESS", "FAILURE", "CANCELED") for r in runs)
    return runs if done else None


def _tolerant(call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)``, or None: after its storage restarts, the webserver answers 500 once per
    connection it held."""
    try:
        return call(*args)
    except (httpx.HTTPError, AssertionError):
        return None


@pytest.mark.faults
@pytest.mark.parametrize(
    "topology", [{"instances": 30_000, "private_postgres": True}], indirect=True
)
def test_dagster_s_storage_restarting_mid_load_never_leaves_a_success_over_a_wrong_table(topology):
    """Dagster's PostgreSQL (runs, events, schedules) crashes as the load starts and is back 5 s
    later: the run ends either successful with the table exact, or failed, and a run of the same
    days then makes the table exact. Never a success over a load that was rolled back. Prints
    what happened and the time from the crash to the exact table."""
    graphql, services, emulator = topology["graphql"], topology["services"], topology["emulator"]
    postgres = topology["postgres"]
    days = TWENTY_DAYS
    backfill_id = _launch_backfill(graphql, days)
    run_id, _ = wait_for(
        "the load to start",
        lambda: _step_started(graphql, backfill_id, "hc_dd_fktk"),
        services,
        240,
    )
    postgres.crash()
    crashed_at = time.monotonic()
    time.sleep(5)
    postgres.start()
    runs = wait_for("the run to end", lambda: _settled_runs(graphql, run_id), services, 900)
    expected = expected_rows(emulator, days[0], days[-1])
    stored = _rows_of_days(topology["engine"], days)
    succeeded = [r for r in runs if r["status"] == "SUCCESS"]
    # The one thing that must never be: a run the UI shows as successful over a wrong table.
    assert not succeeded or stored == expected, runs
    outcome = ", ".join(f"{r['runId'][:8]} {r['status']}" for r in runs)
    failures = [
        e["message"]
        for r in runs
        for e in wait_for(
            "its events", lambda r=r: _tolerant(_events, graphql, r["runId"]), services, 60
        )
        if e["__typename"] in ("RunFailureEvent", "ExecutionStepFailureEvent")
    ]
    outcome += f" ({'; '.join(m[:160] for m in failures)}); table exact then: {stored == expected}"
    if not succeeded:
        # What the team does with a failed run: run its days again.
        again = wait_for(
            "the rerun's launch", lambda: _tolerant(_launch_backfill, graphql, days), services, 60
        )

        def rerun() -> dict[str, Any] | None:
            try:
                backfill = graphql(BACKFILL, id=again)["partitionBackfillOrError"]
            except (httpx.HTTPError, AssertionError):
                return None
            ended = [r for r in backfill["runs"] if r["status"] in ("SUCCESS", "FAILURE")]
            return ended[0] if ended else None

        assert wait_for("the rerun", rerun, services, 600)["status"] == "SUCCESS"
        outcome += ", rerun SUCCESS"
        stored = _rows_of_days(topology["engine"], days)
    assert stored == expected
    print(
        f"Dagster's storage crashed mid-load for 5 s: {outcome}; {len(expected)} rows exact "
        f"{time.monotonic() - crashed_at:.0f} s after the crash"
    )


def _sessions(database: str) -> int:
    """How many sessions Postgres has opened on ``database`` so far (every process's)."""
    admin = psycopg2.connect(dbname="postgres", **POSTGRES)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            # A session's end is counted as its backend exits, just after its client has gone.
            counts = []
            for _ in range(20):
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute(
                    "SELECT sessions FROM pg_stat_database WHERE datname = %s", (database,)
                )
                counts.append(int(cursor.fetchone()[0]))
                if len(counts) > 2 and counts[-1] == counts[-3]:
                    break
                time.sleep(0.25)
            return counts[-1]
    finally:
        admin.close()


def test_a_run_on_the_deployment_s_instance_keeps_its_sessions_to_postgres(
    scratch_postgres, mysql_url, tmp_path
):
    """Dagster's Postgres storage opens a new session for every event it stores: a 2,000-form
    run's 343 events took 10.5 s against 6.6 s on SQLite (reproduced). The run's process keeps
    its sessions, as Dagster's webserver does: each further day of a run (its three
    materializations, its six check verdicts, its planned events) adds a few sessions, not one
    or more per event."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    with EmulatorServer(EmulatorConfig(instances=600, seed=5), as_of=AS_OF) as emulator:
        env = {
            **without_pipeline_settings(),
            **pipeline_env(emulator, mysql_url, tmp_path / "storage"),
            **instance_env(home, {**POSTGRES, "db": scratch_postgres}),
        }
        _fresh(make_engine(mysql_url)).dispose()
        opened = []
        for days in ("2026-11-01...2026-11-01", "2026-11-02...2026-11-11"):
            before = _sessions(scratch_postgres)
            completed = subprocess.run(
                materialize_command(days, "yida_refund_instances*"),
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert completed.returncode == 0, completed.stderr[-3000:]
            opened.append(_sessions(scratch_postgres) - before)
    # Nine more days: 27 planned events are still written before the run starts (one session
    # each, Dagster's); 81 materializations and verdicts in the run must not add a session each.
    assert opened[1] - opened[0] < 60, opened


def test_the_image_lock_pins_what_pyproject_asks_for():
    """deploy/requirements.lock (what the Dockerfile installs) satisfies pyproject.toml."""
    declared = [Requirement(r) for r in importlib.metadata.requires("dd_refund_pipeline") or []]
    wanted = [r for r in declared if r.marker is None or r.marker.evaluate({"extra": "deploy"})]
    assert any(canonicalize_name(r.name) == "dagster-k8s" for r in wanted)
    lock = (DEPLOY / "requirements.lock").read_text(encoding="utf-8")
    pinned = _lock_pins()
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in deploy/requirements.lock"
        assert pinned[name] in requirement.specifier, (
            f"lock has {name}=={pinned[name]}, not {requirement}"
        )
    assert all("--hash=sha256:" in block for block in lock.split("==")[1:])


def _lock_pins() -> dict[str, Version]:
    lock = (DEPLOY / "requirements.lock").read_text(encoding="utf-8")
    return {
        canonicalize_name(name): Version(version)
        for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", lock, re.MULTILINE)
    }


def test_the_environment_the_tests_run_in_has_the_versions_the_image_ships():
    """``make install`` takes every version the image's lock pins: tests and benchmarks measure
    what is deployed. Resolved afresh instead, patch releases of six packages (grpcio and
    universal-pathlib among them) took a 200,000-form run from 488 to 511-519 MB (reproduced)."""
    installed = {
        canonicalize_name(dist.metadata["Name"]): Version(dist.version)
        for dist in importlib.metadata.distributions()
    }
    differing = {
        name: f"{installed[name]} (lock {version})"
        for name, version in _lock_pins().items()
        if name in installed and installed[name] != version
    }
    assert not differing, differing


def image_environment() -> dict[str, str]:
    """The ``ENV`` of deploy/Dockerfile, as the code server and run pods get it."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    block = re.search(r"^ENV (.*?)(?:\n(?!\s)|\Z)", "\n".join(lines), re.MULTILINE | re.DOTALL)
    assert block is not None
    pairs = block.group(1).replace("\\\n", " ").split()
    return dict(pair.split("=", 1) for pair in pairs)


def helm_environment(service: str) -> dict[str, str]:
    """The ``env`` the Helm values give one of Dagster's own services (which run its image)."""
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in (values[service].get("env") or {}).items()}


def test_the_telemetry_uploader_is_off_in_every_process_the_deployment_starts():
    """The uploader posts and deletes $DAGSTER_HOME/logs unless DAGSTER_DISABLE_TELEMETRY is set
    (dagster.yaml's ``telemetry: enabled: false`` does not stop it): the image (code server, run
    pods) and Dagster's own webserver and daemon must all set it."""
    assert image_environment()["DAGSTER_DISABLE_TELEMETRY"] == "1"
    assert image_environment()["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
    for service in ("dagsterWebserver", "dagsterDaemon"):
        assert helm_environment(service).get("DAGSTER_DISABLE_TELEMETRY") == "1", service


def test_the_helm_values_keep_the_webserver_inside_the_cluster():
    """It has no login: no public Service type and no ingress unless a person adds the
    authenticating proxy (docs/deploying.md, "Who can reach the webserver")."""
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text(encoding="utf-8"))
    assert values["dagsterWebserver"]["service"]["type"] == "ClusterIP"
    assert values["ingress"]["enabled"] is False


def test_the_image_runs_as_an_unprivileged_user_that_cannot_change_the_code():
    """The code server (and every run pod, same image) is user 10001, not root; the code and SQL
    are root's, so a compromised process cannot rewrite what later runs execute."""
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] == "dagster"
    [useradd] = [line for line in lines if "useradd" in line]
    uid = re.search(r"--uid (\d+)", useradd)
    assert uid is not None and int(uid.group(1)) >= 1000
    copies = [
        line for line in lines if line.startswith("COPY ") and "requirements.lock" not in line
    ]
    code = [line for line in copies if "dd_refund_pipeline" in line or " sql " in line]
    assert len(code) == 2 and all("--chown=root:root" in line for line in code)
    # USER comes before CMD: the command itself never runs as root.
    assert lines.index(f"USER {users[-1]}") < next(
        i for i, line in enumerate(lines) if line.startswith("CMD ")
    )
