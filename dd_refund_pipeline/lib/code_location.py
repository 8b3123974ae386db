"""The code location, built once per process while nothing it is built from has changed.

Dagster reconstructs a code location each time it needs the repository: ``dagster asset
materialize`` does it five times in one run (for the run's plan, its argument checks and the
repository, some twice), and each build read every form's folder again, about 0.12 s apiece.
The definitions are a function of the project's files and the environment (which forms are on,
where the tables live), so a build is kept and reused for as long as both stay as they were: an
edited ``defs.yaml`` or table DDL, or a changed variable, builds anew. A webserver's "Reload"
starts a new code server process, so it always builds anew.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

# What the build reads besides the environment: the forms' folders and the shared DDL.
WATCHED_FOLDERS = ("dd_refund_pipeline/defs", "dd_refund_pipeline/examples", "sql")


@dataclass(frozen=True)
class _Built:
    fingerprint: tuple[object, ...]
    defs: dg.Definitions


_last: list[_Built] = []


def _files_fingerprint(project_root: Path) -> tuple[tuple[str, int, int], ...]:
    """Each watched file's path, size and modification time, in a fixed order."""
    seen: list[tuple[str, int, int]] = []
    for folder in WATCHED_FOLDERS:
        for directory, subfolders, files in os.walk(project_root / folder):
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
            for name in sorted(files):
                stat = os.stat(os.path.join(directory, name))
                seen.append((os.path.join(directory, name), stat.st_size, stat.st_mtime_ns))
    return tuple(seen)


def build_code_location(project_root: Path) -> dg.Definitions:
    """Every form's definitions and the shared ones under ``project_root``.

    Built at most once for the same files and environment.
    """
    fingerprint = (
        str(project_root),
        tuple(sorted(os.environ.items())),
        _files_fingerprint(project_root),
    )
    if _last and _last[0].fingerprint == fingerprint:
        return _last[0].defs
    defs = dg.load_from_defs_folder(project_root=project_root)
    # One kept build: a process (a test session) that changes its environment often would
    # otherwise hold every code location it ever built.
    _last[:] = [_Built(fingerprint, defs)]
    return defs
