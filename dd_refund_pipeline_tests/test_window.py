"""The window's containers: raw days batched for the transform, cleaned rows with rejects."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pandas as pd

from dd_refund_pipeline.days.day_instances import InMemoryDays
from dd_refund_pipeline.days.partition_files import decode_frame
from dd_refund_pipeline.days.raw_instances import RawInstances
from dd_refund_pipeline.forms.spec import load_form_spec
from dd_refund_pipeline.transform.instances import transform_instances
from dd_refund_pipeline.transform.window import WindowSummary, transform_window
from dd_refund_pipeline_tests.test_transform import instance

SPEC = load_form_spec("fktk_refund")
DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]


def form(pid: str, created: str, version: int = 1, **changes: Any) -> dict[str, Any]:
    return instance(processInstanceId=pid, createTimeGMT=created, version=version, **changes)


def test_batches_hold_whole_days_up_to_the_size():
    by_day = {day: [form(f"{day}-{n}", "2026-11-01T02:00Z") for n in range(3)] for day in DAYS}
    raw = RawInstances.from_lists(by_day)
    batches = list(raw.batches(size=5))
    assert [days for _, days in batches] == [["2026-11-01"] * 3, ["2026-11-02"] * 3, DAYS[2:] * 3]
    assert [len(items) for items, _ in list(raw.batches(size=6))] == [6, 3]
    # Batches are planned from the counts: a day is read when its batch is handed out.
    read: list[str] = []

    class Watched(InMemoryDays):
        def instances(self, day: str) -> list[dict[str, Any]]:
            read.append(day)
            return super().instances(day)

    for _, days in RawInstances(Watched(by_day)).batches(size=6):
        assert set(days) <= set(read) and read[-1] == days[-1]
    assert read == DAYS


def test_a_batch_rejects_under_the_stored_day_and_merges_copies_only_within_a_day():
    a_v1, a_v2 = form("a", "2026-11-01T02:00Z", 1), form("a", "2026-11-01T02:00Z", 2)
    undated = form("u", "not a time")
    twice = form("t", "2026-11-02T02:00Z")
    raw = RawInstances.from_lists(
        {"2026-11-01": [a_v1, a_v2, twice], "2026-11-02": [twice], "2026-11-03": [undated]}
    )
    window = transform_window(raw, SPEC)
    frames = window.frames
    assert window.duplicates == 1 and frames.days == DAYS
    summary = WindowSummary().read(frames, "extend_processInstanceId")
    assert summary.rows == {"2026-11-01": 1, "2026-11-02": 2, "2026-11-03": 0}
    assert window.summary.rows == summary.rows and window.summary.day_keys == summary.day_keys
    clean = window.checked
    # The days read back from their encoded files hold the rows the check saw.
    stored = pd.concat([frames.day(day)[0] for day in frames.days], ignore_index=True)
    pd.testing.assert_frame_equal(stored[clean.columns], clean, check_dtype=False)
    assert clean.set_index("extend_processInstanceId").loc["a", "source_version"] == 2
    # The same form under two days is damage: both copies reach the uniqueness check.
    assert (clean["extend_processInstanceId"] == "t").sum() == 2
    [reject] = summary.rejects().to_dict("records")
    assert reject["process_instance_id"] == "u" and reject["partition_date"] == "2026-11-03"
    assert frames.day("2026-11-03")[1]["process_instance_id"].tolist() == ["u"]
    # Without stored days, a record's own unreadable date leaves its reject without a day.
    assert transform_instances([undated], SPEC).rejects["partition_date"].isna().all()


def test_a_day_whose_rows_come_from_two_batches_is_stored_as_one_file():
    # Created on 11-02 but stored under 11-01 (an older scan's file): it is cleaned into 11-02's
    # rows, one batch before the forms stored under 11-02.
    raw = RawInstances.from_lists(
        {
            "2026-11-01": [form("early", "2026-11-02T02:00Z")],
            "2026-11-02": [form("own", "2026-11-02T03:00Z")],
        }
    )
    window = transform_window(raw, SPEC, batch_size=1)
    key = "extend_processInstanceId"
    clean, rejects = (decode_frame(part) for part in window.frames.files("2026-11-02"))
    assert sorted(clean[key]) == ["early", "own"] and rejects.empty
    assert window.frames.day("2026-11-02")[0][key].tolist() == clean[key].tolist()
    assert window.summary.rows == {"2026-11-01": 0, "2026-11-02": 2}
    assert decode_frame(window.frames.files("2026-11-01")[0]).empty


def test_the_transform_keeps_its_days_encoded_not_as_frames():
    # Held as frames, a window's cleaned rows took 560 bytes a row here (about 110 MB more at
    # 200,000 forms, in a process that never gave them back); encoded, about 314.
    by_day = {
        f"2026-11-{d:02d}": [
            form(f"{d}-{n}", f"2026-11-{d:02d}T02:00Z", title=f"退款 {n}") for n in range(400)
        ]
        for d in range(1, 26)
    }
    raw = RawInstances.from_lists(by_day)
    gc.collect()
    tracemalloc.start()
    try:
        window = transform_window(raw, SPEC)
        gc.collect()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert window.summary.total_rows == 10_000
    assert kept / 10_000 < 450, f"{kept / 10_000:.0f} bytes kept a row"
