"""How a run's process allocates memory, so that what one step frees the next can reuse.

A run's steps share one process (``defs/executor.py``), so each starts where the one before
peaked unless freed memory is reusable (issue 26, goal 3: 200,000 forms within 500 MB). Set when
the package is imported: before pyarrow loads and before a step starts a thread.
"""

from __future__ import annotations

import ctypes
import os

# glibc's mallopt parameter for the most malloc arenas a process may have.
_M_ARENA_MAX = -8
ARENAS = 2


def use_lean_allocators() -> None:
    """Arrow on the system allocator, and glibc with at most ``ARENAS`` arenas.

    Arrow's own allocator (mimalloc, in the wheels) keeps the pages of a day's freed frames, so
    each step started where the one before had peaked (~75 MB more at 200,000 forms). glibc
    gives each thread that allocates while another does an arena of its own (up to 8 per core),
    and the pages freed in one are not reused by the others: the read-ahead threads' batches
    left ~30 MB more that way. Arrow reads its setting once, when it loads; a value the user
    set wins. Elsewhere than glibc (musl, macOS) there is no such setting, and nothing is done.
    """
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        # The process's own symbols, libc's among them (no search for the library's file).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, ARENAS)
