"""A run's process keeps its connections to Dagster's own database for the run.

Dagster's Postgres storage opens a session for every event it stores and closes it again (so
that no process holds connections it does not need): a 2,000-form run writes 343 events (each
day's materializations and check verdicts) and spent 10.5 s against 6.6 s on SQLite, most of it
opening sessions. Dagster's webserver keeps a pooled session instead (its
``optimize_for_webserver``); a run's process, which writes events from its first step to its
last, asks its instance for the same. On SQLite the call changes nothing (the project's
``PooledSqliteEventLogStorage`` keeps its connections already).
"""

import weakref

import dagster as dg

# A run's own writes never come near it; it only stops a statement that hangs.
STATEMENT_TIMEOUT_MS = 10 * 60 * 1000
# Reconnect hourly, as the webserver does: no session outlives a database failover for long.
POOL_RECYCLE_S = 3600
# One session kept; a few more for steps that log from threads at once, closed after use.
MAX_OVERFLOW = 2

_kept: "weakref.WeakSet[dg.DagsterInstance]" = weakref.WeakSet()


def keep_run_connections(instance: dg.DagsterInstance) -> None:
    """Pool ``instance``'s storage sessions, once per instance (later runs reuse the pool)."""
    if instance in _kept:
        return
    instance.optimize_for_webserver(
        statement_timeout=STATEMENT_TIMEOUT_MS,
        pool_recycle=POOL_RECYCLE_S,
        max_overflow=MAX_OVERFLOW,
    )
    _kept.add(instance)
