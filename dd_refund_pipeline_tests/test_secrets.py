"""No secret leaves its variable: not into logs, the event log, metadata, errors, alerts or the UI.

Every secret gets a sentinel value (the app secret, the systemToken, the database password of a
real MariaDB user, the robot's token and secret, and the access tokens the emulator issues). The
pipeline then runs for real: a successful run whose WARN check fails, a run whose database is
unreachable, a run with a wrong systemToken, and the alerts for them. Then every place a secret
could surface is searched; the test names the place where one is found.
"""

from __future__ import annotations

import json
import logging
import uuid

import dagster as dg
import pymysql
import pytest
import sqlalchemy as sa
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from dd_refund_pipeline.definitions import defs
from dd_refund_pipeline.defs.sensors import dingtalk_on_failed_checks, dingtalk_on_run_failure
from dd_refund_pipeline.emulator.server import EmulatorServer
from dd_refund_pipeline.emulator.state import EmulatorConfig
from dd_refund_pipeline.lib.partitions import RANGE_END_TAG, RANGE_START_TAG
from dd_refund_pipeline_tests.conftest import AS_OF
from dd_refund_pipeline_tests.ground_truth import pipeline_env

SENTINELS = {
    "app secret": "app-secret-SENTINEL-5f1c",
    "systemToken": "system-token-SENTINEL-7a2e",
    "database password": "db-pw-SENTINEL-9c3d",
    "robot access token": "robot-token-SENTINEL-1b4f",
    "robot secret": "SECrobot-SENTINEL-2d8a",
    "wrong systemToken": "wrong-token-SENTINEL-6e0b",
}


@pytest.fixture
def sentinel_database(mysql_url):
    """A MariaDB user whose password is a sentinel, allowed into the test database."""
    user = f"dd_sentinel_{uuid.uuid4().hex[:6]}"
    database = sa.make_url(mysql_url).database
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with admin.cursor() as cursor:
        for host in ("127.0.0.1", "localhost"):
            cursor.execute(
                f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s", (SENTINELS["database password"],)
            )
            cursor.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'{host}'")
        cursor.execute(
            f"DROP TABLE IF EXISTS `{database}`.hc_dd_fktk, `{database}`.hc_dd_fktk_rejects"
        )
    yield f"mysql+pymysql://{user}:{SENTINELS['database password']}@127.0.0.1:3306/{database}"
    with admin.cursor() as cursor:
        for host in ("127.0.0.1", "localhost"):
            cursor.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
    admin.close()


def _run(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = defs().resolve_job_def("dd_refund_sync_job")
    return job.execute_in_process(
        tags={RANGE_START_TAG: "2026-11-01", RANGE_END_TAG: "2026-11-05"},
        instance=instance,
        raise_on_error=False,
    )


def test_no_secret_appears_anywhere(sentinel_database, tmp_path, monkeypatch, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    config = EmulatorConfig(
        instances=2000,
        seed=23,
        malformed_rate=0.15,
        app_secret=SENTINELS["app secret"],
        system_token=SENTINELS["systemToken"],
        robot_access_token=SENTINELS["robot access token"],
        robot_secret=SENTINELS["robot secret"],
    )
    with EmulatorServer(config, as_of=AS_OF) as server, dg.instance_for_test() as instance:
        # The emulator was configured with the sentinels, so its settings carry them.
        env = pipeline_env(server, sentinel_database, tmp_path / "storage", robot=True)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        robot_resource = {"dingtalk_robot": _robot_from_env()}

        succeeded = _run(instance)
        assert succeeded.success
        [record] = instance.get_records_for_run(
            succeeded.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS
        ).records
        dingtalk_on_failed_checks(
            dg.build_run_status_sensor_context(
                sensor_name="dingtalk_on_failed_checks",
                dagster_instance=instance,
                dagster_run=succeeded.dagster_run,
                dagster_event=record.event_log_entry.dagster_event,
                resources=robot_resource,
            )
        )

        failed_runs = []
        monkeypatch.setenv("DD_REFUND_DATABASE_URL", sentinel_database.replace(":3306", ":1"))
        failed_runs.append(_run(instance))
        monkeypatch.setenv("DD_REFUND_DATABASE_URL", sentinel_database)
        monkeypatch.setenv("YIDA_SYSTEM_TOKEN", SENTINELS["wrong systemToken"])
        failed_runs.append(_run(instance))
        for failed in failed_runs:
            assert not failed.success
            dingtalk_on_run_failure(
                dg.build_run_status_sensor_context(
                    sensor_name="dingtalk_on_run_failure",
                    dagster_instance=instance,
                    dagster_run=failed.dagster_run,
                    dagster_event=failed.get_run_failure_event(),
                    resources=robot_resource,
                ).for_run_failure()
            )

        assert len(server.state.robot.messages) == 3
        secrets = {
            **SENTINELS,
            **{f"access token {n}": token for n, token in enumerate(server.state.issued_tokens)},
        }
        assert len(secrets) > len(SENTINELS)
        captured = capsys.readouterr()
        places = {
            "captured logs": caplog.text,
            "stdout and stderr": captured.out + captured.err,
            "event log (metadata, check results, errors)": "\n".join(
                serialize_value(record.event_log_entry)
                for result in (succeeded, *failed_runs)
                for record in instance.get_records_for_run(result.run_id).records
            ),
            "run records": "\n".join(
                serialize_value(r.dagster_run) for r in instance.get_run_records()
            ),
            "alert texts": json.dumps(server.state.robot.messages, ensure_ascii=False),
            "repository snapshot (what the UI shows)": serialize_value(
                RepositorySnap.from_def(defs().get_repository_def())
            ),
        }
    assert "yida_refund_instances" in places["event log (metadata, check results, errors)"]
    leaks = [
        f"{name} in {place}"
        for place, text in places.items()
        for name, value in secrets.items()
        if value in text
    ]
    assert not leaks, f"secrets leaked: {leaks}"


def _robot_from_env():
    from dd_refund_pipeline.lib.resources import DingTalkRobot

    # The same EnvVar wiring as the definitions, resolved the way a sensor resolves it.
    return DingTalkRobot(
        base_url=dg.EnvVar("DINGTALK_ROBOT_BASE_URL").get_value(),
        access_token=dg.EnvVar("DINGTALK_ROBOT_ACCESS_TOKEN").get_value(),
        secret=dg.EnvVar("DINGTALK_ROBOT_SECRET").get_value(),
    )
