"""Dagster's SQLite event log with one kept engine per database file.

Every event a run writes (each day's materialization, each day's check verdict) goes through the
instance's event log. Dagster's SQLite storage builds a new SQLAlchemy engine for every
connection, so each event paid for a new engine, a new connection (whose close, the last one on
its file, checkpoints the WAL) and compiling its statements anew: 12.6 ms per check verdict,
1.9 s of a 2,000-form run's 150 verdicts. This storage keeps one engine, with its connection and
statement cache, per database file, and is otherwise Dagster's: the same files in the same place
(``$DAGSTER_HOME/history/runs``, so a home keeps its history), the same schema, busy timeout and
WAL journal, the same lock around each use. Other processes (the webserver, the daemon, another
run) read and write the files alongside it, as SQLite allows.

``dagster.yaml.example`` names it; ``deploy/dagster.yaml`` (Postgres) does not use it.
"""

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

# A run writes two databases (its own and the index); a webserver reads a few runs at a time.
# Beyond this many, the least recently used is closed (two open files each).
KEPT_DATABASES = 8


def _identity(path: str) -> int | None:
    """The file's inode, or None while it does not exist."""
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log, keeping an engine per database file instead of one per use."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        # Set before Dagster's constructor, which may already connect (to create the index).
        self._engines: OrderedDict[str, tuple[Engine, int | None]] = OrderedDict()
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        """Its one setting in ``dagster.yaml``: the instance's home."""
        return {
            "dagster_home": dg.Field(
                dg.StringSource,
                description="The instance's home ({env: DAGSTER_HOME}): the events are kept "
                "where Dagster's default storage keeps them, under history/runs.",
            )
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "PooledSqliteEventLogStorage":
        """The storage of ``dagster.yaml``'s settings, in the home's ``history/runs``."""
        home = os.path.abspath(os.path.expanduser(config_value["dagster_home"]))
        return cls(os.path.join(home, "history", "runs"), inst_data=inst_data)

    def kept_databases(self) -> list[str]:
        """The databases (run ids and ``index``) with an engine kept open, oldest use first."""
        with self._engines_lock:
            return list(self._engines)

    def _engine(self, shard: str) -> Engine:
        """The shard's kept engine; a new one when its file was deleted or replaced meanwhile.

        A connection kept to a file another process deleted would write to a file nobody can
        open again: every later event lost.
        """
        identity = _identity(self.path_for_shard(shard))
        with self._engines_lock:
            kept = self._engines.pop(shard, None)
            # None: the engine was made before its file existed (its first use created it).
            if kept is not None and kept[1] in (identity, None):
                self._engines[shard] = (kept[0], identity)
                return kept[0]
            if kept is not None:
                kept[0].dispose()
            if identity is None or kept is not None:
                # A file deleted or replaced meanwhile has no tables (yet).
                self._initialized_dbs.discard(shard)
            engine = create_engine(
                self.conn_string_for_shard(shard),
                # One connection kept; creating a database's schema inspects it on a second one.
                pool_size=1,
                max_overflow=1,
                connect_args={
                    "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                    # Any thread may use it: Dagster's lock lets one at a time.
                    "check_same_thread": False,
                },
            )
            self._engines[shard] = (engine, identity)
            while len(self._engines) > KEPT_DATABASES:
                _, (oldest, _) = self._engines.popitem(last=False)
                oldest.dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
                # Now that the file exists: what a later use compares it with.
                engine = self._engine(shard)
            with engine.connect() as connection, connection.begin():
                yield connection

    def _close_all(self) -> None:
        with self._engines_lock:
            engines = [engine for engine, _ in self._engines.values()]
            self._engines.clear()
        for engine in engines:
            engine.dispose()

    def wipe(self) -> None:
        """Dagster's wipe, which deletes the run databases, after letting go of them."""
        with self._db_lock:
            self._close_all()
        super().wipe()

    def dispose(self) -> None:
        """Dagster's (its file watchers stopped), and every kept connection closed."""
        super().dispose()
        self._close_all()
