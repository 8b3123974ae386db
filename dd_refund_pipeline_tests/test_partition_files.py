"""The day files between the assets: a crash while writing never leaves a truncated day."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dd_refund_pipeline.days.partition_files import PartitionFileStore, StorageWriteError
from dd_refund_pipeline.dingtalk import payload_json


def test_a_crash_mid_write_keeps_the_previous_day_file_whole(tmp_path, monkeypatch):
    store = PartitionFileStore(str(tmp_path))
    before = [payload_json.dumps({"processInstanceId": f"id-{n}"}) for n in range(3)]
    store.write_instances("raw", "2026-11-02", before)
    path = store.path("raw", "2026-11-02", ".jsonl")

    def crash_halfway(self, data: bytes) -> int:
        with open(self, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(type(path), "write_bytes", crash_halfway)
    with pytest.raises(StorageWriteError, match="disk full"):
        store.write_instances("raw", "2026-11-02", [b'{"processInstanceId":"new"}'] * 1000)
    monkeypatch.undo()
    assert [r["processInstanceId"] for r in store.read_instances("raw", "2026-11-02")] == [
        "id-0",
        "id-1",
        "id-2",
    ]
    assert sorted(p.name for p in path.parent.iterdir()) == ["2026-11-02.jsonl"]


def test_amounts_keep_their_exact_json_text_through_the_day_file(tmp_path):
    store = PartitionFileStore(str(tmp_path))
    document = b'{"data":{"numberField_lgkiepjv":1234567890123456.78,"n":0.50,"e":1E+2}}'
    store.write_instances("raw", "2026-11-02", [payload_json.dumps(payload_json.loads(document))])
    [line] = store.path("raw", "2026-11-02", ".jsonl").read_bytes().splitlines()
    assert line == document
    [item] = store.read_instances("raw", "2026-11-02")
    assert item["data"]["numberField_lgkiepjv"] == Decimal("1234567890123456.78")


def test_a_key_file_is_used_only_with_the_day_file_it_was_written_for(tmp_path):
    """The load reads a day's ids from its key file (nothing decoded); a key file left from an
    earlier day file (a crash between the two writes) is never taken for the new one."""
    store = PartitionFileStore(str(tmp_path))
    lines = [payload_json.dumps({"processInstanceId": f"id-{n}"}) for n in range(3)]
    digest = store.write_instances("raw", "2026-11-02", lines)
    store.write_keys("raw", "2026-11-02", ["id-0", "id-1", "id-2"], digest)
    assert store.inspect_instances("raw", "2026-11-02") == (3, digest)
    assert store.read_keys("raw", "2026-11-02", digest) == ["id-0", "id-1", "id-2"]
    newer = store.write_instances("raw", "2026-11-02", lines[:2])
    assert store.inspect_instances("raw", "2026-11-02") == (2, newer)
    assert store.read_keys("raw", "2026-11-02", newer) is None
    assert store.read_keys("raw", "2026-11-03", newer) is None
