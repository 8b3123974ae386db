"""A scan's instances reach the transform a day at a time, from a spool, nothing lost or merged."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.dingtalk.yida import InstanceSet
from dd_refund_pipeline.forms.spec import load_form_spec
from dd_refund_pipeline.readahead import read_ahead
from dd_refund_pipeline.refunds.batches import (
    RawInstances,
    WindowSummary,
    split_by_day,
    transform_window,
)
from dd_refund_pipeline.refunds.transform import transform_instances
from dd_refund_pipeline.storage import PartitionFileStore
from dd_refund_pipeline_tests.test_transform import instance

SPEC = load_form_spec()
DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]


def form(pid: str, created: str, version: int = 1, **changes: Any) -> dict[str, Any]:
    return instance(processInstanceId=pid, createTimeGMT=created, version=version, **changes)


def test_the_spool_keeps_the_newest_copy_of_each_form_even_on_disk():
    found = InstanceSet(spool_in_memory_bytes=512)  # rolls over to a file after two forms
    old, new = form("a", "2026-11-01T02:00Z", 1), form("a", "2026-11-01T02:00Z", 2)
    anonymous = form("", "2026-11-01T03:00Z")
    assert found.add([old, form("b", "2026-11-02T02:00Z"), anonymous]) == {
        "a",
        "b",
        *found.anonymous,
    }
    found.add([new, old, anonymous, "not an object"])
    assert found._spool._rolled  # type: ignore[attr-defined]
    held = {item.get("processInstanceId") if isinstance(item, dict) else item for item in found}
    assert held == {"a", "b", "", "not an object"} and len(found) == 4
    assert next(i for i in found if isinstance(i, dict) and i["processInstanceId"] == "a") == new
    # Same version: the later modification wins; an unreadable one never beats a readable one.
    later = form("b", "2026-11-02T02:00Z", modifiedTimeGMT="2026-11-09T02:00Z")
    found.add([later, form("b", "2026-11-02T02:00Z", modifiedTimeGMT="garbled")])
    assert next(i for i in found if isinstance(i, dict) and i["processInstanceId"] == "b") == later


def test_a_small_set_reads_back_its_objects_and_a_large_one_decodes_its_spool():
    small, large = InstanceSet(), InstanceSet(spool_in_memory_bytes=512)
    forms = [form(str(n), "2026-11-01T02:00Z") for n in range(3)]
    for found in (small, large):
        found.add(forms)
    assert all(a is b for a, b in zip(small.read(small.rows().tolist()), forms, strict=True))
    decoded = large.read(large.rows().tolist())
    assert decoded == forms and not any(a is b for a, b in zip(decoded, forms, strict=True))


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
    raw, outside = split_by_day(found, DAYS, CHINA_TZ)
    assert outside == 1
    assert raw.counts() == {"2026-11-01": 1, "2026-11-02": 1, "2026-11-03": 1}
    assert [i["processInstanceId"] for i in raw.day("2026-11-03")] == ["d"]
    assert raw.day("2026-12-01") == []
    assert raw.ids() == ({"a", "b", "d"}, 0)


def test_batches_hold_whole_days_up_to_the_size():
    by_day = {day: [form(f"{day}-{n}", "2026-11-01T02:00Z") for n in range(3)] for day in DAYS}
    raw = RawInstances.from_lists(by_day)
    batches = list(raw.batches(size=5))
    assert [days for _, days in batches] == [["2026-11-01"] * 3, ["2026-11-02"] * 3, DAYS[2:] * 3]
    assert [len(items) for items, _ in list(raw.batches(size=6))] == [6, 3]
    # Without counts, a batch is a day: finding a batch's end would mean reading ahead.
    read: list[str] = []
    uncounted = RawInstances(DAYS, lambda day: read.append(day) or by_day[day])
    for _, days in uncounted.batches(size=6):
        assert set(days) == {read[-1]}


def test_a_batch_rejects_under_the_stored_day_and_merges_copies_only_within_a_day():
    a_v1, a_v2 = form("a", "2026-11-01T02:00Z", 1), form("a", "2026-11-01T02:00Z", 2)
    undated = form("u", "not a time")
    twice = form("t", "2026-11-02T02:00Z")
    raw = RawInstances.from_lists(
        {"2026-11-01": [a_v1, a_v2, twice], "2026-11-02": [twice], "2026-11-03": [undated]}
    )
    frames, merged = transform_window(raw, SPEC)
    assert merged == 1 and frames.days == DAYS
    summary = WindowSummary().read(frames, "extend_processInstanceId")
    assert summary.rows == {"2026-11-01": 1, "2026-11-02": 2, "2026-11-03": 0}
    clean = frames.clean_columns(["extend_processInstanceId", "source_version"])
    assert clean.set_index("extend_processInstanceId").loc["a", "source_version"] == 2
    # The same form under two days is damage: both copies reach the uniqueness check.
    assert (clean["extend_processInstanceId"] == "t").sum() == 2
    [reject] = summary.rejects().to_dict("records")
    assert reject["process_instance_id"] == "u" and reject["partition_date"] == "2026-11-03"
    assert frames.day("2026-11-03")[1]["process_instance_id"].tolist() == ["u"]
    # Without stored days, a record's own unreadable date leaves its reject without a day.
    assert transform_instances([undated], SPEC).rejects["partition_date"].isna().all()


def test_day_files_keep_the_spooled_lines_and_read_back_every_character(tmp_path):
    found = InstanceSet()
    awkward = form("a", "2026-11-01T02:00Z", data_textField_x="line\u2028break\u0085next\n“引号”")
    found.add([awkward, form("b", "2026-11-01T03:00Z")])
    raw, _ = split_by_day(found, DAYS, CHINA_TZ)
    store = PartitionFileStore(str(tmp_path))
    store.write_instances("raw", "2026-11-01", raw.lines("2026-11-01"))
    assert store.read_instances("raw", "2026-11-01") == raw.day("2026-11-01")
    assert store.read_instances("raw", "2026-11-01")[0] == awkward
    # Instances held as objects are written in the same form.
    from_lists = RawInstances.from_lists({"2026-11-01": raw.day("2026-11-01")})
    assert from_lists.lines("2026-11-01") == raw.lines("2026-11-01")


def test_read_ahead_yields_everything_in_order_and_raises_the_producers_error():
    assert list(read_ahead(iter(range(50)), depth=2)) == list(range(50))

    def failing() -> Iterator[int]:
        yield 1
        raise RuntimeError("the transform broke")

    with pytest.raises(RuntimeError, match="the transform broke"):
        list(read_ahead(failing()))


def test_read_ahead_runs_one_step_ahead_and_stops_when_the_consumer_does():
    made: list[int] = []

    def produce() -> Iterator[int]:
        for n in range(1000):
            made.append(n)
            yield n

    reader = read_ahead(produce())
    assert next(reader) == 0
    deadline = time.monotonic() + 5
    while len(made) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(made) == 3  # item 0 handed out, 1 waiting in the queue, 2 made and held
    reader.close()  # the consumer stops: the thread ends instead of making the rest
    assert len(made) == 3
