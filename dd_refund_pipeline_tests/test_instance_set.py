"""The scan's instance store: the newest copy of each form, spooled to disk when large."""

from __future__ import annotations

import tracemalloc
from datetime import datetime
from typing import Any

from dd_refund_pipeline.dingtalk import payload_json
from dd_refund_pipeline.dingtalk.instance_set import InstanceSet, copy_rank
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.generator import generate_instances
from dd_refund_pipeline.forms.spec import load_form_spec
from dd_refund_pipeline_tests.test_transform import instance


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


def test_the_newest_copy_is_the_higher_version_then_the_later_modification():
    older = form("a", "2026-11-01T02:00Z", 2, modifiedTimeGMT="2026-11-03T02:00Z")
    newer = form("a", "2026-11-01T02:00Z", 3, modifiedTimeGMT="2026-11-02T02:00Z")
    later = form("a", "2026-11-01T02:00Z", 3, modifiedTimeGMT="2026-11-04T02:00Z")
    garbled = form("a", "2026-11-01T02:00Z", 3, modifiedTimeGMT="garbled")
    assert copy_rank(newer) > copy_rank(older)
    assert copy_rank(later) > copy_rank(newer) > copy_rank(garbled)
    assert copy_rank(form("a", "2026-11-01T02:00Z", version="x")) < copy_rank(older)  # type: ignore[arg-type]


def test_a_large_scan_holds_a_bounded_number_of_decoded_payloads():
    # A decoded payload takes about 4.7 times its JSON: kept until the spool held 32 MB, they had
    # grown a 200,000-form run by ~150 MB that the process never gave back (issue 26, goal 3).
    _, made = generate_instances(
        load_form_spec("fktk_refund"), 100, seed=3, as_of=datetime.now(tz=CHINA_TZ), days=25
    )
    lines = [payload_json.dumps(m.payload) for m in made if isinstance(m.payload, dict)]
    pids = [m.pid for m in made if isinstance(m.payload, dict)]
    found, spooled = InstanceSet(), 0
    tracemalloc.start()
    try:
        for page in range(24 * 1024 * 1024 // sum(map(len, lines)) + 1):
            # Each page decoded afresh, as the scan receives it.
            tag = f"-{page}".encode()
            found.add(
                payload_json.loads(line.replace(pid.encode(), pid.encode() + tag))
                for line, pid in zip(lines, pids, strict=True)
            )
            spooled += sum(map(len, lines))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        found.close()
    assert spooled > 24 * 1024 * 1024 and len(found) == len(lines) * (page + 1)
    assert peak < 40 * 1024 * 1024, f"{peak / 2**20:.0f} MB held for {spooled / 2**20:.0f} MB"
