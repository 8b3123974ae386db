"""Shared fixtures: emulators on ephemeral ports, and ground truth computed from their data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pymysql
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dd_refund_pipeline.dingtalk.query import ClientSettings, YidaCredentials, YidaQuery
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.server import EmulatorServer
from dd_refund_pipeline.emulator.state import EmulatorConfig
from dd_refund_pipeline.load.loader import make_engine
from dd_refund_pipeline_tests.ground_truth import matches_seed_query


@pytest.fixture(autouse=True)
def no_leftover_dagster_instance() -> Iterator[None]:
    """Each test starts with no Dagster instance's state storage set as the current one.

    Entering a ``DagsterInstance`` sets its defs-state storage in a context variable that
    building ``Definitions`` reads; one left set by an earlier test (seen now and then after the
    world fixtures' instances are closed) points at a deleted temporary folder.
    """
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield


# Generated (hypothesis) tests run this many times their examples: DD_REFUND_PROPERTY_SCALE=20
# for a long run; `make test` keeps the default.
# The tests cover the worked example form (费用报销单 → hc_dd_fybx) beside the refund form, as
# the demo shows both; a test of the plain code location unsets this for its subprocess.
os.environ["DD_REFUND_EXAMPLE_FORMS"] = "on"

# `make test-fast` draws a fifth of them (DD_REFUND_PROPERTY_SCALE=0.2).
PROPERTY_SCALE = float(os.environ.get("DD_REFUND_PROPERTY_SCALE") or 1)


def examples(count: int) -> int:
    """How many examples a generated test draws: ``count``, times the property scale."""
    return max(1, round(count * PROPERTY_SCALE))


# The fast tier (`make test-fast`: someone changing the spec, the transform, the day files or the
# client wants an answer in a minute) is every test that runs in this process on SQLite and the
# emulator. What needs MariaDB, or starts Dagster's processes, or drills faults, is the whole
# suite's (`make test`, which CI runs).
WHOLE_SUITE_FIXTURES = frozenset({"mysql_url", "mysql_engine"})
WHOLE_SUITE_FILES = frozenset(
    {
        "test_deployment.py",
        "test_database_restart.py",
        "test_reliability.py",
        "test_orchestration.py",
        "test_table_follows_yida.py",
        "test_demo.py",
        # Dagster's command line in subprocesses (dg check defs, definitions validate).
        "test_definitions.py",
        # The client's fault drills; test_yida_client.py keeps the client's contract fast.
        "test_yida_scan_robustness.py",
        # The demo's world over days and restarts.
        "test_demo_world.py",
        # Sensors evaluated against a Dagster instance.
        "test_alert_sensors.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what only the whole suite runs (``whole_suite``); the rest is the fast tier."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (
            WHOLE_SUITE_FIXTURES & set(getattr(item, "fixturenames", ()))
            or "mysql" in params.values()
            or item.path.name in WHOLE_SUITE_FILES
        ):
            item.add_marker(pytest.mark.whole_suite)


# A fixed "now" for the emulator's data, so that every run of the suite sees the same forms.
AS_OF = datetime(2026, 11, 20, 15, 0, tzinfo=CHINA_TZ)
SEED_FILTERS = {
    "selectField_lgkiepju": "是",
    "radioField_lgk9jn2v": "借款核销",
    "numberField_lgkiepjv": [0.0001],
}


def credentials_for(config: EmulatorConfig) -> YidaCredentials:
    return YidaCredentials(config.app_key, config.app_secret, config.system_token)


def seed_query(config: EmulatorConfig, **changes: object) -> YidaQuery:
    """The seed scheme's query: approved, completed 借款核销 refunds with a positive amount."""
    fields: dict[str, object] = {
        "app_type": config.app_type,
        "user_id": config.user_id,
        "form_uuid": config.form_uuid,
        "search_fields": SEED_FILTERS,
        "instance_status": "COMPLETED",
        "approved_result": "agree",
    }
    fields.update(changes)
    return YidaQuery(**fields)  # type: ignore[arg-type]


def expected_seed_ids(server: EmulatorServer, start: datetime, end: datetime) -> set[str]:
    """Ground truth, written independently of the emulator's filter code."""
    low, high = start.timestamp() * 1000, end.timestamp() * 1000
    return {
        str(i.payload["processInstanceId"])
        for i in server.state.store.instances
        if matches_seed_query(i) and low <= i.create_ms <= high
    }


def quiet_scan_calls(matches: int, page_size: int = 100) -> int:
    """List calls of a scan while nothing changes: a page per ``page_size`` settled forms (at
    least one, to learn there are none), and one for the forms modified since it began."""
    return max(1, -(-matches // page_size)) + 1


def fast_settings(**changes: object) -> ClientSettings:
    """Client settings for tests: short waits so injected faults cost seconds, not minutes."""
    values: dict[str, object] = {
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5,
        "timeout_s": 2.0,
        "max_attempts": 8,
    }
    values.update(changes)
    return ClientSettings(**values)  # type: ignore[arg-type]


def window(days: int = 60) -> tuple[datetime, datetime]:
    end = AS_OF.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return end - timedelta(days=days), end


@pytest.fixture(scope="session")
def shared_emulator() -> Iterator[EmulatorServer]:
    """A read-only emulator with the demo's 3,000 forms; tests must not change its faults."""
    with EmulatorServer(EmulatorConfig(instances=3000, seed=7), as_of=AS_OF) as server:
        yield server


@pytest.fixture
def make_emulator() -> Iterator[object]:
    """Factory for private emulators that a test may configure freely."""
    servers: list[EmulatorServer] = []

    def make(as_of: datetime | None = AS_OF, **config: object) -> EmulatorServer:
        # The app's other form is served too (a run of every asset scans it), with fewer forms:
        # most tests look at the refund form.
        settings = {"instances": 1500, "seed": 11, "other_form_instances": 300}
        settings.update(config)
        server = EmulatorServer(EmulatorConfig(**settings), as_of=as_of).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


# MariaDB for the tests: a database of their own, created for the session and dropped after it.
MYSQL_SERVER = os.environ.get("DD_REFUND_TEST_MYSQL_SERVER", "mysql+pymysql://root@127.0.0.1:3306")


def _admin() -> pymysql.connections.Connection:
    url = sa.make_url(MYSQL_SERVER)
    return pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username,
        password=url.password or "",
        autocommit=True,
    )


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    name = f"dd_refund_test_{uuid.uuid4().hex[:10]}"
    with _admin() as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield f"{MYSQL_SERVER}/{name}"
    finally:
        with _admin() as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _fresh(engine: Engine) -> Engine:
    with engine.begin() as conn:
        for table in (
            "hc_dd_fktk",
            "hc_dd_fktk_rejects",
            "hc_dd_fktk_sync",
            "hc_dd_fktk_adopt_backup",
            "hc_dd_fybx",
            "hc_dd_fybx_rejects",
            "hc_dd_fybx_sync",
            "yida_api_calls",
        ):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    return engine


@pytest.fixture
def mysql_engine(mysql_url: str) -> Iterator[Engine]:
    engine = _fresh(make_engine(mysql_url))
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "mysql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    """The same tests on the embedded default and on real MariaDB."""
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'refunds.db'}")
    else:
        made = _fresh(make_engine(request.getfixturevalue("mysql_url")))
    yield made
    made.dispose()
