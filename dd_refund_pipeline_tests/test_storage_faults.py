"""A full disk or a read-only folder under the day files: a clear failure, never a torn day.

The day files live where ``DD_REFUND_STORAGE_URL`` says. When that file system is full or turns
read-only, a write must fail at once (a retry meets the same disk), naming the folder, its
setting and the free space, and leave the day's previous file whole: a later run reads either
the old complete day or the new complete day. The disk here is a real one, a tmpfs of a few
kilobytes mounted for the test (the machine's tests run as root); the kernel refuses the
writes, nothing is simulated.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from dd_refund_pipeline.days.partition_files import PartitionFileStore, StorageWriteError
from dd_refund_pipeline.emulator.server import EmulatorServer
from dd_refund_pipeline.emulator.state import EmulatorConfig
from dd_refund_pipeline_tests.conftest import AS_OF
from dd_refund_pipeline_tests.ground_truth import expected_rows, table
from dd_refund_pipeline_tests.test_reliability import resources, run_days

ASSET = "yida_refund_instances"


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 KB file system of its own, unmounted after the test."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = _mount("-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".partial"))


def test_a_full_disk_fails_the_write_naming_the_folder_and_keeps_the_day_whole(small_disk):
    store = PartitionFileStore(str(small_disk))
    before = [b'{"processInstanceId": "a"}']
    digest = store.write_instances(ASSET, "2026-11-01", before)
    with pytest.raises(StorageWriteError) as raised:
        store.write_instances(ASSET, "2026-11-01", [b"x" * 1000] * 40)  # 40 KB on 16 KB
    message = str(raised.value)
    assert "No space left on device" in message
    assert str(small_disk) in message and "2026-11-01.jsonl" in message
    assert "free there" in message
    # The day reads as it was: the old file whole, no half-written one beside it.
    assert store.read_lines(ASSET, "2026-11-01") == before
    assert store.inspect_instances(ASSET, "2026-11-01")[1] == digest
    assert _leftovers(small_disk) == []


def test_a_read_only_folder_fails_the_write_naming_it(small_disk):
    store = PartitionFileStore(str(small_disk))
    before = [b'{"processInstanceId": "a"}']
    store.write_instances(ASSET, "2026-11-01", before)
    assert _mount("-o", "remount,ro", str(small_disk)).returncode == 0
    with pytest.raises(StorageWriteError, match="Read-only file system"):
        store.write_instances(ASSET, "2026-11-01", [b'{"processInstanceId": "b"}'])
    with pytest.raises(StorageWriteError, match="Read-only file system"):
        store.write_instances(ASSET, "2026-11-02", [])  # a new day's folder entry too
    assert store.read_lines(ASSET, "2026-11-01") == before


def test_a_run_whose_storage_is_full_fails_at_once_and_a_run_with_room_is_exact(
    small_disk, mysql_engine, mysql_url, tmp_path
):
    config = EmulatorConfig(instances=2000, seed=23)
    with EmulatorServer(config, as_of=AS_OF) as server, dg.instance_for_test() as instance:
        full = run_days(
            instance, resources(server, mysql_url, small_disk), "2026-11-01", "2026-11-05"
        )
        assert not full.success
        events = full.all_events
        [failure] = [e for e in events if e.event_type_value == "STEP_FAILURE"]
        assert failure.step_key == ASSET
        message = failure.event_specific_data.error.to_string()
        assert "No space left on device" in message and "DD_REFUND_STORAGE_URL" in message
        assert str(small_disk) in message and "free there" in message
        # At once: a retry would meet the same disk.
        assert not [e for e in events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert _leftovers(small_disk) == []
        assert not sa.inspect(mysql_engine).has_table("hc_dd_fktk")  # the load never began

        roomy = run_days(
            instance, resources(server, mysql_url, tmp_path / "roomy"), "2026-11-01", "2026-11-05"
        )
        assert roomy.success
        assert table(mysql_engine) == expected_rows(server, "2026-11-01", "2026-11-05")
