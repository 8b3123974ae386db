"""What keeps a run's process lean: the allocators its steps share (issue 26, goal 3)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from dd_refund_pipeline.allocators import ARENAS

# As the Dagster CLI and the webserver do: Dagster first, then the code location.
_LOAD = "import dagster, dd_refund_pipeline.definitions\n"
_ARROW_BACKEND = _LOAD + "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
# Threads that allocate at once, as a step's read-ahead does; then glibc lists its arenas.
_ARENAS = (
    _LOAD
    + """
import ctypes, threading
barrier = threading.Barrier(6)
def work():
    kept = [bytearray(4096) for _ in range(200)]
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(6)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(None).malloc_stats()
"""
)


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    chosen = ("ARROW_DEFAULT_MEMORY_POOL", "MALLOC_ARENA_MAX")
    inherited = {k: v for k, v in os.environ.items() if k not in chosen}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**inherited, **env},
        capture_output=True,
        text=True,
        check=True,
    )


def _arenas(**env: str) -> int:
    report = _run(_ARENAS, **env).stderr
    return sum(1 for line in report.splitlines() if line.startswith("Arena "))


def test_a_run_allocates_arrow_buffers_from_the_system_allocator():
    # Arrow's own allocator keeps the pages of freed day frames, and each step of a run then
    # starts where the one before peaked (the steps share one process).
    assert _run(_ARROW_BACKEND).stdout.strip() == "system"


@pytest.mark.parametrize("chosen", ["mimalloc", "jemalloc"])
def test_an_arrow_allocator_the_user_chose_is_kept(chosen: str):
    import pyarrow as pa

    if chosen not in pa.supported_memory_backends():
        pytest.skip(f"this pyarrow has no {chosen}")
    assert _run(_ARROW_BACKEND, ARROW_DEFAULT_MEMORY_POOL=chosen).stdout.strip() == chosen


glibc = pytest.mark.skipif(
    not hasattr(ctypes.CDLL(None), "malloc_stats"), reason="glibc's malloc arenas only"
)


@glibc
def test_threads_of_a_run_share_at_most_two_malloc_arenas():
    # Unbounded, six allocating threads get an arena each (7 in all), and the pages one frees
    # are not reused by the others.
    assert 1 <= _arenas() <= ARENAS


@glibc
def test_an_arena_limit_the_user_chose_is_kept():
    assert _arenas(MALLOC_ARENA_MAX="4") == 4
