"""A window's instances a day at a time: from memory, from the scan's spool, from day files."""

from __future__ import annotations

from typing import Any

from dd_refund_pipeline.days.day_instances import split_by_day
from dd_refund_pipeline.days.partition_files import PartitionFileStore, StoredDays
from dd_refund_pipeline.days.raw_instances import RawInstances
from dd_refund_pipeline.dingtalk.instance_set import InstanceSet
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline_tests.test_transform import instance

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]


def form(pid: str, created: str, version: int = 1, **changes: Any) -> dict[str, Any]:
    return instance(processInstanceId=pid, createTimeGMT=created, version=version, **changes)


def test_split_by_day_reads_each_day_from_the_spool_and_keeps_the_undated():
    found = InstanceSet()
    found.add(
        [
            form("a", "2026-10-31T16:30Z"),  # 2026-11-01 00:30 in China
            form("b", "2026-11-02T15:59Z"),  # 2026-11-02 23:59 in China
            form("c", "2026-11-05T02:00Z"),  # after the window
            form("d", "yesterday"),
        ]
    )
    spool, outside = split_by_day(found, DAYS, CHINA_TZ)
    raw = RawInstances(spool)
    assert [i["processInstanceId"] for i in outside] == ["c"]
    assert raw.counts() == {"2026-11-01": 1, "2026-11-02": 1, "2026-11-03": 1}
    assert [i["processInstanceId"] for i in raw.day("2026-11-03")] == ["d"]
    assert raw.day("2026-12-01") == []
    assert raw.ids() == ({"a", "b", "d"}, 0)


def test_a_creation_time_with_no_table_day_is_undated_not_outside():
    """9999-12-31T23:59Z is China day 10000-01-01: no partition could hold it, so the transform
    rejects it under the window's last day instead of it being quarantined under no day."""
    found = InstanceSet()
    found.add([form("far", "9999-12-31T23:59Z"), form("early", "0999-12-30T00:00Z")])
    spool, outside = split_by_day(found, DAYS, CHINA_TZ)
    assert outside == []
    assert {i["processInstanceId"] for i in RawInstances(spool).day("2026-11-03")} == {
        "far",
        "early",
    }


def test_day_files_keep_the_spooled_lines_and_read_back_every_character(tmp_path):
    found = InstanceSet()
    awkward = form("a", "2026-11-01T02:00Z", data_textField_x="line\u2028break\u0085next\n“引号”")
    found.add([awkward, form("b", "2026-11-01T03:00Z")])
    raw = RawInstances(split_by_day(found, DAYS, CHINA_TZ)[0])
    store = PartitionFileStore(str(tmp_path))
    store.write_instances("raw", "2026-11-01", raw.lines("2026-11-01"))
    assert store.read_instances("raw", "2026-11-01") == raw.day("2026-11-01")
    assert store.read_instances("raw", "2026-11-01")[0] == awkward
    # Instances held as objects are written in the same form.
    from_lists = RawInstances.from_lists({"2026-11-01": raw.day("2026-11-01")})
    assert from_lists.lines("2026-11-01") == raw.lines("2026-11-01")


def test_every_kind_of_day_reads_the_same_instances_lines_and_keys(tmp_path):
    found = InstanceSet()
    forms = [
        form("a", "2026-11-01T02:00Z"),
        form("", "2026-11-01T03:00Z"),
        form("b", "2026-11-02T02:00Z"),
    ]
    found.add(forms)
    spool, _ = split_by_day(found, DAYS, CHINA_TZ)
    store = PartitionFileStore(str(tmp_path))
    for day in DAYS:
        digest = store.write_instances("raw", day, spool.lines(day))
        store.write_keys("raw", day, spool.keys(day), digest)
    in_memory = RawInstances.from_lists({day: spool.instances(day) for day in DAYS})
    sources = [RawInstances(spool), RawInstances(StoredDays(store, "raw", DAYS)), in_memory]
    for raw in sources:
        assert raw.days == DAYS
        assert raw.counts() == {"2026-11-01": 2, "2026-11-02": 1, "2026-11-03": 0}
        for day in DAYS:
            assert raw.day(day) == spool.instances(day)
            assert raw.lines(day) == spool.lines(day)
            assert raw.keys(day) == spool.keys(day)
        assert raw.ids()[0] == {"a", "b"} and raw.ids()[1] == 1


def test_stored_days_without_a_key_file_decode_their_keys(tmp_path):
    store = PartitionFileStore(str(tmp_path))
    store.write_instances("raw", "2026-11-01", [b'{"processInstanceId": "a"}'])
    stored = StoredDays(store, "raw", ["2026-11-01"])
    assert stored.keys("2026-11-01") == ["a"] and stored.count("2026-11-01") == 1
