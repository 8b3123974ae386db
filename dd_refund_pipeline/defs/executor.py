"""How the steps of a run execute: all in the run's own process."""

import dagster as dg

from dd_refund_pipeline.lib.run_connections import keep_run_connections


@dg.executor(name="in_process", config_schema=dg.in_process_executor.config_schema.as_field())
def in_process_keeping_connections(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Dagster's in-process executor, on an instance that keeps its database sessions.

    The run's events (each day's materializations and check verdicts) are stored from its
    first step to its last: one kept session instead of one opened per event (``lib/
    run_connections``).
    """
    keep_run_connections(init_context.instance)
    creation = dg.in_process_executor.executor_creation_fn
    assert creation is not None  # Dagster's own executor always has one
    return creation(init_context)


@dg.definitions
def executor() -> dg.Definitions:
    """The in-process executor for every job of this code location (the UI's and the CLI's too).

    The three assets are a chain, each step waiting for the one before, so a process per step
    (the default multiprocess executor) buys no parallelism: it only starts a Python per step
    that imports Dagster, pandas, pyarrow and SQLAlchemy again, about 4 s each on our machines.
    Step retries (``RetryPolicy``) and the ``yida_api`` pool work the same in one process; what
    a run loses is isolation between its steps, which this job does not use.
    """
    return dg.Definitions(executor=in_process_keeping_connections)
