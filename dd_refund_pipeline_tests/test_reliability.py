"""After a bad night the table is still exact: nothing lost, duplicated or altered.

The fault drill runs the real assets over 25 days against an emulator that fails 10% of calls,
throttles, revokes the token mid-scan and kills every token after 7 list calls, approves,
deletes and withdraws forms while it is read, and serves 1% damaged records; the database
tests kill a connection mid-load, take the database away, and race two runs; the
configuration tests break each setting in turn. Every test checks the final table against the
emulator's own data.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pymysql
import pytest
import sqlalchemy as sa

from dd_refund_pipeline.defs.sensors import dingtalk_on_run_failure
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.generator import generate_instances
from dd_refund_pipeline.emulator.server import EmulatorServer
from dd_refund_pipeline.emulator.state import EmulatorConfig
from dd_refund_pipeline.forms.spec import load_form_spec
from dd_refund_pipeline.lib.file_storage import FormFileStorage
from dd_refund_pipeline.lib.partitions import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    form_days,
    lookback_days,
)
from dd_refund_pipeline.lib.resources import DingTalkRobot, FormDatabase, YidaResource
from dd_refund_pipeline.load.loader import DatabaseError, load_rows
from dd_refund_pipeline.transform.instances import transform_instances
from dd_refund_pipeline_tests.conftest import AS_OF
from dd_refund_pipeline_tests.ground_truth import (
    expected_rows,
    matching,
    materialize_command,
    pipeline_env,
    refund_asset,
    table,
)

ASSETS = [refund_asset(name) for name in ("yida_refund_instances", "refund_payments", "hc_dd_fktk")]
SPEC = load_form_spec("fktk_refund")
ROOT = Path(__file__).resolve().parents[1]
TICK = datetime(2026, 11, 21, 2, 30, tzinfo=CHINA_TZ)  # the schedule's tick after AS_OF


def resources(server: EmulatorServer, db_url: str, storage: Path, **yida: Any) -> dict[str, Any]:
    config = server.state.config
    return {
        "yida": YidaResource(
            base_url=server.base_url,
            app_key=config.app_key,
            app_secret=config.app_secret,
            system_token=config.system_token,
            **yida,
        ),
        "refund_database": FormDatabase(url=db_url),
        "refund_storage": FormFileStorage(base_url=str(storage)),
        "dingtalk_robot": DingTalkRobot(
            base_url=server.base_url,
            access_token=config.robot_access_token,
            secret=config.robot_secret,
        ),
    }


def run_days(
    instance: dg.DagsterInstance, resources: dict[str, Any], start: str, end: str
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        resources=resources,
        instance=instance,
        raise_on_error=False,
        tags={RANGE_START_TAG: start, RANGE_END_TAG: end},
    )


def rejects(engine: sa.Engine) -> list[tuple[str, str | None, str, str]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT record_key, process_instance_id, field, reason FROM hc_dd_fktk_rejects"
                )
            )
        ]


def test_fault_drill_over_25_days(mysql_engine, mysql_url, tmp_path):
    keys = lookback_days(form_days(), TICK, 25)
    config = EmulatorConfig(
        instances=100_000,
        forms=("fktk_refund",),  # the drill runs the refund form's assets
        seed=31,
        malformed_rate=0.01,
        qps=8,
        error_rate=0.04,
        hang_rate=0.03,
        hang_s=2.0,
        drop_rate=0.03,
        invalidate_token_at_call=6,
        token_lifetime_calls=7,
        fault_seed=5,
    )
    with EmulatorServer(config, as_of=AS_OF) as server, dg.instance_for_test() as instance:
        in_window = len(matching(server, keys[0], keys[-1]))
        live_events = math.ceil(0.05 * in_window)
        # Forms approved while the first pages are read (5% of the window), some filed, some
        # deleted and some edited out of the filter (是 → 否) while later pages are read.
        server.state.update(
            {
                "live_complete_per_call": live_events / 20,
                "live_create_per_call": 1,
                "live_delete_per_call": 1,
                "live_withdraw_per_call": 1,
                "live_max_events": live_events,
            }
        )
        started = time.monotonic()
        result = run_days(
            instance, resources(server, mysql_url, tmp_path, timeout_s=1.0), keys[0], keys[-1]
        )
        wall = time.monotonic() - started
        assert result.success
        stats = server.state.stats
        returned = matching(server, keys[0], keys[-1])
        malformed = [i for i in returned if i.malformed]
        expected = expected_rows(server, keys[0], keys[-1])

        # Exactly the expected rows: none lost, none duplicated, none altered.
        assert table(mysql_engine) == expected
        # The rejects are exactly the damaged records, each with a reason.
        found = rejects(mysql_engine)
        assert len({key for key, *_ in found}) == len(malformed)
        assert {pid for _, pid, *_ in found if pid} == {
            i.payload["processInstanceId"] for i in malformed if i.payload["processInstanceId"]
        }
        assert all(reason for *_, reason in found)

        [raw] = result.asset_materializations_for_node("yida_refund_instances")[:1]
        meta = {key: value.value for key, value in raw.metadata.items()}
        minimum_list = math.ceil(len(returned) / 100)
        list_calls, retries = meta["api_list_calls"], meta["api_retries"]
        assert meta["api_calls"] == stats.calls["instances"] + stats.calls["accessToken"]
        # Every call beyond a page read was a retry the faults made necessary; every page beyond
        # the minimum was paid for the deep-paging split (a discarded first page per split, the
        # rounding of each part) or the drift repair.
        pages = meta["api_pages"]
        # A call refused for a dead token is a retry too (fresh token, at once).
        assert meta["api_calls"] == pages + retries + meta["api_token_refreshes"] + 1
        # Each call refused for a dead token was seen by the client, unless the client had
        # already given up waiting for it (a request queued past the 1 s time-out).
        refused = meta["api_retry_causes"]["InvalidAuthentication"]
        late = meta["api_retry_causes"].get("ReadTimeout", 0)
        assert stats.auth_failures - late <= refused <= stats.auth_failures
        assert meta["api_token_refreshes"] >= stats.tokens_expired_by_calls >= 2
        # Each retry is shown with its cause, by code: throttles under DingTalk's own code.
        causes = meta["api_retry_causes"]
        assert sum(causes.values()) == retries and len(causes) >= 3
        assert causes["Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"] == meta["api_throttles"]
        overhead = meta["api_window_splits"] + meta["api_window_parts"] - 1
        assert minimum_list <= pages <= minimum_list + overhead + meta["api_repair_calls"]
        assert stats.faults["error"] and stats.faults["hang"] and stats.faults["drop"], (
            stats.as_dict(),
            server.state.config.public(),
        )
        assert stats.throttled > 0 and stats.auth_failures > 0 and stats.live_completed > 0
        assert stats.live_deleted > 0 and stats.live_withdrawn > 0
        print(
            f"\nfault drill, {keys[0]}...{keys[-1]}: {len(returned)} instances returned, "
            f"{len(expected)} rows, {len(malformed)} rejected; table exact (0 lost, 0 "
            f"duplicated, 0 altered); {meta['api_calls']} API calls: {list_calls} list calls = "
            f"{pages} pages (minimum {minimum_list}, {meta['api_window_parts']} parts after "
            f"{meta['api_window_splits']} split(s), {meta['api_repair_calls']} drift-repair "
            f"calls, {meta['api_drift_repairs']} re-reads, {meta['api_departed']} departed) + "
            f"{retries} retries ({dict(causes)}); {meta['api_token_refreshes']} token refreshes "
            f"({stats.auth_failures} calls refused for a dead token); faults {dict(stats.faults)}, "
            f"{stats.throttled} throttles; mid-scan: {stats.live_completed} approved, "
            f"{stats.live_created} filed, {stats.live_deleted} deleted, "
            f"{stats.live_withdrawn} withdrawn; {wall:.1f} s"
        )


def _kill_first_insert(database: str, after_s: float, killed: list[int]) -> None:
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    deadline = time.monotonic() + 30
    started = time.monotonic()
    with admin.cursor() as cursor:
        while time.monotonic() < deadline and not killed:
            cursor.execute(
                "SELECT ID FROM information_schema.PROCESSLIST "
                "WHERE DB = %s AND INFO LIKE 'INSERT INTO%%'",
                (database,),
            )
            found = cursor.fetchall()
            if found and time.monotonic() - started >= after_s:
                cursor.execute(f"KILL CONNECTION {int(found[0][0])}")
                killed.append(int(found[0][0]))
            time.sleep(0.005)
    admin.close()


def test_a_connection_killed_mid_load_keeps_no_partial_batch(mysql_engine, mysql_url):
    _, made = generate_instances(SPEC, 60_000, seed=8, as_of=AS_OF)
    result = transform_instances([m.payload for m in made], SPEC)
    load_rows(mysql_engine, SPEC, result.clean.iloc[:1000], result.rejects.iloc[0:0], "base")
    before = table(mysql_engine)
    killed: list[int] = []
    killer = threading.Thread(
        target=_kill_first_insert, args=(sa.make_url(mysql_url).database, 0.3, killed)
    )
    killer.start()
    with pytest.raises((DatabaseError, sa.exc.DBAPIError)):
        load_rows(mysql_engine, SPEC, result.clean, result.rejects, "killed", batch_size=1000)
    killer.join()
    assert killed, "the load finished before it could be killed"
    assert table(mysql_engine) == before  # the killed transaction left nothing behind
    # The rerun (what the step retry does) converges to the exact table.
    load_rows(mysql_engine, SPEC, result.clean, result.rejects, "rerun")
    assert len(table(mysql_engine)) == len(result.clean)
    assert set(table(mysql_engine)) == set(result.clean["extend_processInstanceId"])


def test_an_unreachable_database_fails_the_run_before_any_api_call(tmp_path):
    config = EmulatorConfig(instances=500, seed=3)
    url = "mysql+pymysql://finance:db-pw-SENTINEL@127.0.0.1:1/finance"
    with EmulatorServer(config, as_of=AS_OF) as server, dg.instance_for_test() as instance:
        result = run_days(instance, resources(server, url, tmp_path), "2026-11-01", "2026-11-03")
        assert not result.success
        assert server.state.stats.calls["instances"] == 0
        [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        error = failure.event_specific_data.error.to_string()
        assert "127.0.0.1:1" in error and "db-pw-SENTINEL" not in error
        context = dg.build_run_status_sensor_context(
            sensor_name="dingtalk_on_run_failure",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
            resources={"dingtalk_robot": resources(server, url, tmp_path)["dingtalk_robot"]},
        ).for_run_failure()
        dingtalk_on_run_failure(context)
        [message] = server.state.robot.messages
        text = message["markdown"]["text"]
        assert "127.0.0.1:1" in text and "yida_refund_instances" in text
        assert "db-pw-SENTINEL" not in text


def test_overlapping_range_runs_end_exact_and_take_turns_at_the_api(
    mysql_engine, mysql_url, tmp_path, monkeypatch
):
    config = EmulatorConfig(instances=4000, seed=17, latency_ms=30)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml.example", home / "dagster.yaml")
    # The example's event log finds its home as Dagster's processes do, in DAGSTER_HOME.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # Create the instance's storage once: two processes creating it at once race on its schema.
    dg.DagsterInstance.from_config(str(home)).dispose()
    with EmulatorServer(config, as_of=AS_OF) as server:
        env = {
            **os.environ,
            **pipeline_env(server, mysql_url, tmp_path / "storage"),
            "DAGSTER_HOME": str(home),
        }
        runs = [
            subprocess.Popen(
                materialize_command(days),
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for days in ("2026-10-20...2026-11-10", "2026-11-01...2026-11-20")
        ]
        outputs = [run.communicate(timeout=600)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        assert table(mysql_engine) == expected_rows(server, "2026-10-20", "2026-11-20")
        assert server.state.stats.throttled == 0
    with dg.DagsterInstance.from_config(str(home)) as instance:
        spans = []
        for record in instance.get_run_records():
            events = instance.get_records_for_run(record.dagster_run.run_id).records
            times = {
                e.event_log_entry.dagster_event.event_type_value: e.event_log_entry.timestamp
                for e in events
                if e.event_log_entry.dagster_event
                and e.event_log_entry.step_key == "yida_refund_instances"
                and e.event_log_entry.dagster_event.event_type_value
                in ("STEP_START", "STEP_SUCCESS")
            }
            spans.append((times["STEP_START"], times["STEP_SUCCESS"]))
    (_, first_end), (second_start, _) = sorted(spans)
    assert second_start >= first_end, "two scans ran at once despite the yida_api pool"


@pytest.fixture
def configured(monkeypatch, tmp_path, mysql_url):
    """The real definitions configured from the environment, against a small emulator."""
    config = EmulatorConfig(instances=300, seed=5)
    with EmulatorServer(config, as_of=AS_OF) as server:
        for key, value in pipeline_env(server, mysql_url, tmp_path / "storage").items():
            monkeypatch.setenv(key, value)
        yield server


def _run_defs(start: str = "2026-11-01", end: str = "2026-11-02") -> dg.ExecuteInProcessResult:
    from dd_refund_pipeline.definitions import defs

    job = defs().resolve_job_def("dd_refund_sync_job")
    with dg.instance_for_test() as instance:
        return job.execute_in_process(
            tags={RANGE_START_TAG: start, RANGE_END_TAG: end},
            instance=instance,
            raise_on_error=False,
        )


@pytest.mark.parametrize(
    "missing",
    ["DINGTALK_APP_KEY", "DINGTALK_APP_SECRET", "YIDA_SYSTEM_TOKEN", "DD_REFUND_DATABASE_URL"],
)
def test_a_missing_setting_is_named_at_run_start(configured, monkeypatch, tmp_path, missing):
    monkeypatch.delenv(missing)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    with pytest.raises(dg.DagsterInvalidConfigError, match=missing):
        _run_defs()
    assert configured.state.stats.calls["instances"] == 0
    # No silent default: nothing was written anywhere instead of the finance database.
    assert not list(tmp_path.glob("**/*.db"))


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    kinds = ("STEP_FAILURE", "RESOURCE_INIT_FAILURE")
    failures = [e for e in result.all_events if e.event_type_value in kinds]
    assert failures and not result.success
    return "\n".join(
        e.event_specific_data.error.to_string()
        for e in failures
        if e.event_specific_data and e.event_specific_data.error
    )


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("DD_REFUND_DATABASE_URL", "mysql+pymysql//missing-colon", "DD_REFUND_DATABASE_URL"),
        ("DINGTALK_BASE_URL", "api.dingtalk.com", "DINGTALK_BASE_URL must be an http(s) URL"),
        ("DINGTALK_BASE_URL", "http://127.0.0.1:1", "DINGTALK_BASE_URL"),
        (
            "DD_REFUND_GONE_UPSTREAM",
            "remove",
            "DD_REFUND_GONE_UPSTREAM must be one of flag, delete, not 'remove'",
        ),
    ],
)
def test_a_malformed_setting_is_named_and_nothing_is_written(
    configured, monkeypatch, tmp_path, mysql_engine, variable, value, named
):
    monkeypatch.setenv(variable, value)
    try:
        text = _failure_text(_run_defs())
    except dg.DagsterInvalidConfigError as error:  # caught while resolving the resource config
        text = str(error)
    assert named in text
    assert configured.state.stats.calls["instances"] == 0
    assert not sa.inspect(mysql_engine).has_table("hc_dd_fktk")
    assert not list((tmp_path / "storage").glob("**/*.jsonl"))
