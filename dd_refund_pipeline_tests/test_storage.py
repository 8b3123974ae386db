"""The day files between the assets: a crash while writing never leaves a truncated day."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dd_refund_pipeline.dingtalk import payload_json
from dd_refund_pipeline.storage import PartitionFileStore


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
    with pytest.raises(OSError, match="disk full"):
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
