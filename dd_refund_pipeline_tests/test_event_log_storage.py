"""The instance's event log on SQLite (``dagster.yaml.example``): one kept engine per database.

Dagster's own SQLite event log made a new engine, connection and compiled statement for every
event it stored: 12.6 ms per check verdict, 1.9 s of a 2,000-form run (reproduced). The project's
instance keeps them per database file, in the same files and layout, so a home keeps its history
and every other Dagster process (webserver, daemon, another run) reads and writes alongside.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage

from dd_refund_pipeline.lib.event_log_storage import KEPT_DATABASES, PooledSqliteEventLogStorage

ROOT = Path(__file__).resolve().parents[1]


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, example: bool = True) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    if example:
        shutil.copy(ROOT / "dagster.yaml.example", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def _entry(run_id: str, message: str) -> EventLogEntry:
    event = DagsterEvent(
        event_type_value=DagsterEventType.ENGINE_EVENT.value,
        job_name="bench_job",
        message=message,
        event_specific_data=EngineEventData(),
    )
    return EventLogEntry(
        error_info=None,
        level="INFO",
        user_message=message,
        run_id=run_id,
        timestamp=time.time(),
        dagster_event=event,
    )


def _messages(storage: SqliteEventLogStorage, run_id: str) -> list[str]:
    return [entry.user_message for entry in storage.get_logs_for_run(run_id)]


def _store_many(home: str, run_id: str, count: int) -> None:
    """Another process writing to the same home, as a second run or the daemon does."""
    os.environ["DAGSTER_HOME"] = home
    with dg.DagsterInstance.get() as instance:
        for index in range(count):
            instance.event_log_storage.store_event(_entry(run_id, f"other {index}"))


def test_the_project_s_instance_keeps_dagster_s_files_and_one_engine_per_database(
    tmp_path, monkeypatch
):
    home = _home(tmp_path, monkeypatch, example=False)
    # History written by Dagster's default storage before the project's settings were copied in.
    with dg.DagsterInstance.get() as before:
        before.event_log_storage.store_event(_entry("run-a", "written before"))
    shutil.copy(ROOT / "dagster.yaml.example", home / "dagster.yaml")
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        assert Path(storage._base_dir) == home / "history" / "runs"
        assert _messages(storage, "run-a") == ["written before"]
        for index in range(50):
            storage.store_event(_entry("run-a", f"event {index}"))
        assert storage.kept_databases() == ["run-a"]  # engine events touch no index
    # Dagster's own storage reads every event back from the same files.
    plain = SqliteEventLogStorage(str(home / "history" / "runs"))
    assert _messages(plain, "run-a") == ["written before", *(f"event {i}" for i in range(50))]


def test_a_check_verdict_is_stored_without_a_new_engine(tmp_path, monkeypatch):
    """What made Dagster's store slow: an engine (and its statement cache) per connection."""
    import dd_refund_pipeline.lib.event_log_storage as module

    _home(tmp_path, monkeypatch)
    made: list[str] = []
    create = module.create_engine

    def counted(url: str, **kwargs: object):
        made.append(url)
        return create(url, **kwargs)

    monkeypatch.setattr(module, "create_engine", counted)
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        for index in range(40):
            storage.store_event(_entry("run-b", f"event {index}"))
        assert len(made) <= 2, made  # the run's database and the index, once each
        assert len(_messages(storage, "run-b")) == 40


def test_threads_and_another_process_store_alongside_without_losing_an_event(tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        storage.store_event(_entry("run-c", "first"))
        other = multiprocessing.get_context("spawn").Process(
            target=_store_many, args=(str(home), "run-c", 150)
        )
        other.start()

        def write(thread: int) -> None:
            for index in range(50):
                storage.store_event(_entry("run-c", f"thread {thread} {index}"))

        threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        other.join(timeout=120)
        assert other.exitcode == 0
        messages = _messages(storage, "run-c")
    assert len(messages) == 1 + 150 + 150
    assert sorted(m for m in messages if m.startswith("other")) == sorted(
        f"other {i}" for i in range(150)
    )


def test_a_database_deleted_by_another_process_is_opened_anew_not_written_to_its_ghost(
    tmp_path, monkeypatch
):
    """A kept connection would go on writing to an unlinked file (``dagster instance wipe`` in
    another process deletes the run databases): every later event lost."""
    home = _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        storage.store_event(_entry("run-d", "before the wipe"))
        for suffix in ("", "-wal", "-shm"):
            path = home / "history" / "runs" / f"run-d.db{suffix}"
            if path.exists():
                path.unlink()
        storage.store_event(_entry("run-d", "after the wipe"))
    plain = SqliteEventLogStorage(str(home / "history" / "runs"))
    assert _messages(plain, "run-d") == ["after the wipe"]


def test_a_webserver_reading_many_runs_keeps_a_bounded_number_open(tmp_path, monkeypatch):
    _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        runs = [f"run-{n}" for n in range(KEPT_DATABASES + 5)]
        for run_id in runs:
            storage.store_event(_entry(run_id, run_id))
        assert len(storage.kept_databases()) == KEPT_DATABASES
        # The first runs' databases were let go, and open again when asked for.
        assert _messages(storage, runs[0]) == [runs[0]]
    assert storage.kept_databases() == []


def test_wiping_the_instance_lets_go_of_every_database(tmp_path, monkeypatch):
    _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        storage.store_event(_entry("run-e", "old"))
        storage.wipe()
        # The run's database was deleted; the index, emptied, is open again.
        assert "run-e" not in storage.kept_databases()
        storage.store_event(_entry("run-e", "new"))
        assert _messages(storage, "run-e") == ["new"]
