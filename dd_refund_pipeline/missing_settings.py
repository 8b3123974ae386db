"""A run started without its settings says so in a few lines, naming them all.

Dagster checks ``dg.EnvVar`` settings before any of our code runs, and a command-line run
(``dagster asset materialize``, ``dg launch``) then ends in a long traceback per variable. When
the process is about to die of exactly that, this prints the settings and where to find them
instead; every other error keeps Dagster's own report.
"""

from __future__ import annotations

import re
import sys
from types import TracebackType

_MISSING = re.compile(r'environment variable "(\w+)" which is not set')
_HELP = (
    "  For the demo emulator: make emulator, then export DINGTALK_BASE_URL=http://127.0.0.1:8787 "
    "and its demo credentials (README, 'Quick start').\n"
    "  For real DingTalk and MySQL: README, 'Configuration'."
)


def missing_settings(error: BaseException) -> list[str]:
    """The unset variables a Dagster config error is about (empty for any other error)."""
    text = str(error)
    cause = error.__cause__ or error.__context__
    while cause is not None:
        text += "\n" + str(cause)
        cause = cause.__cause__ or cause.__context__
    for chained in getattr(error, "errors", []) or []:
        text += "\n" + str(getattr(chained, "message", chained))
    return sorted(set(_MISSING.findall(text)))


def _hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    names = missing_settings(error) if kind.__name__ == "DagsterInvalidConfigError" else []
    if not names:
        _previous(kind, error, trace)
        return
    print(
        f"dd_refund_pipeline: the run cannot start; these settings are not set: "
        f"{', '.join(names)}.\n{_HELP}",
        file=sys.stderr,
    )


_previous = sys.excepthook


def install() -> None:
    """Use the short report for a process that dies of missing settings."""
    global _previous
    if sys.excepthook is not _hook:
        _previous, sys.excepthook = sys.excepthook, _hook
