"""How the steps of a run execute: all in the run's own process."""

import dagster as dg


@dg.definitions
def executor() -> dg.Definitions:
    """The in-process executor for every job of this code location (the UI's and the CLI's too).

    The three assets are a chain, each step waiting for the one before, so a process per step
    (the default multiprocess executor) buys no parallelism: it only starts a Python per step
    that imports Dagster, pandas, pyarrow and SQLAlchemy again, about 4 s each on our machines.
    Step retries (``RetryPolicy``) and the ``yida_api`` pool work the same in one process; what
    a run loses is isolation between its steps, which this job does not use.
    """
    return dg.Definitions(executor=dg.in_process_executor)
