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

from dd_refund_pipeline.settings import BadSettingError

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


def bad_setting(error: BaseException) -> str | None:
    """The message of a ``BadSettingError`` behind ``error``, or None.

    Dagster wraps what a code location raises while it loads; the cause chain keeps it.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, BadSettingError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    bad = bad_setting(error)
    if bad is not None:
        print(f"dd_refund_pipeline: a setting is wrong: {bad}", file=sys.stderr)
        return
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
