"""The demo's Yida is one world: restarted, it serves the same forms; a day later, that day's.

A second ``make run`` must insert and update nothing (the README says so), which holds only if
the emulator started by the second run serves what the first one served. Reproduced before: the
forms were drawn afresh from the start time, and ten minutes later 88 of 3,000 differed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dd_refund_pipeline.demo import DEMO_INSTANCES, demo_world_as_of, start_emulator
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.generator import daily_counts, generate_instances
from dd_refund_pipeline.forms.spec import load_form_spec
from dd_refund_pipeline_tests.conftest import AS_OF

SPEC = load_form_spec("fktk_refund")


@pytest.fixture(autouse=True)
def environ_restored() -> Iterator[None]:
    """The demo sets its settings in ``os.environ`` for what it starts: none may outlive a test
    (a later test's subprocess would inherit them)."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _served(monkeypatch: pytest.MonkeyPatch, now: datetime) -> dict[str, dict]:
    """Every form of every form type the demo's emulator serves when started at ``now``."""
    for name in ("DINGTALK_BASE_URL", "DINGTALK_APP_KEY", "DINGTALK_APP_SECRET"):
        monkeypatch.delenv(name, raising=False)
    server = start_emulator(now=now)
    assert server is not None
    try:
        return {i.pid: i.payload for store in server.state.stores.values() for i in store.instances}
    finally:
        server.stop()
        monkeypatch.delenv("DINGTALK_BASE_URL")


def test_the_demo_serves_the_same_forms_all_day(monkeypatch):
    morning = datetime(2026, 12, 3, 9, 0, tzinfo=CHINA_TZ)
    first = _served(monkeypatch, morning)
    assert len(first) > DEMO_INSTANCES
    for later in (timedelta(minutes=10), timedelta(hours=14, minutes=59)):
        assert _served(monkeypatch, morning + later) == first


def test_the_next_day_brings_that_day_and_finished_approvals_and_keeps_the_rest(monkeypatch):
    today = _served(monkeypatch, datetime(2026, 12, 3, 9, 0, tzinfo=CHINA_TZ))
    tomorrow = _served(monkeypatch, datetime(2026, 12, 4, 9, 0, tzinfo=CHINA_TZ))
    kept = today.keys() & tomorrow.keys()
    assert len(kept) > 0.95 * len(today)
    changed = [pid for pid in kept if today[pid] != tomorrow[pid]]
    # Only forms still waiting for approval a day earlier may have moved on.
    assert all(today[pid]["instanceStatus"] == "RUNNING" for pid in changed)
    assert 0 < len(changed) < 0.05 * len(kept)


def test_the_world_stands_at_the_start_of_the_china_day():
    # 17:30 UTC on the 3rd is 01:30 on the 4th in Shanghai: the world stands at the 4th.
    late_utc = datetime(2026, 12, 3, 17, 30, tzinfo=timezone.utc)
    assert demo_world_as_of(late_utc) == datetime(2026, 12, 4, tzinfo=CHINA_TZ)


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=5000),
    days=st.integers(min_value=1, max_value=120),
    start=st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2100, 1, 1).date()),
    shift=st.integers(min_value=1, max_value=200),
)
def test_a_day_keeps_its_share_wherever_the_window_starts(count, days, start, shift):
    here = daily_counts(count, days, start)
    there = daily_counts(count, days, start + timedelta(days=shift))
    assert sum(here.values()) == count == sum(there.values())
    for day in here.keys() & there.keys():
        assert here[day] == there[day]


@settings(max_examples=15, deadline=None)
@given(minutes=st.integers(min_value=1, max_value=3 * 24 * 60))
def test_a_form_generated_later_is_the_same_form_further_along(minutes):
    _, before = generate_instances(SPEC, 600, 5, AS_OF, malformed_rate=0.05)
    _, after = generate_instances(
        SPEC, 600, 5, AS_OF + timedelta(minutes=minutes), malformed_rate=0.05
    )
    later = {i.pid: i for i in after}
    cutoff = (AS_OF + timedelta(minutes=minutes)).astimezone(CHINA_TZ).date() - timedelta(days=59)
    for form in before:
        created = datetime.fromtimestamp(form.create_ms / 1000, tz=CHINA_TZ).date()
        if created < cutoff:
            continue  # left the emulator's 60 days
        again = later[form.pid]
        if form.status != "RUNNING":
            assert again.payload == form.payload and again.malformed == form.malformed
        else:
            assert again.create_ms == form.create_ms
            assert again.payload["data"] == form.payload["data"]


def test_the_demo_s_partitions_begin_with_its_forms(monkeypatch, tmp_path):
    """Reproduced before: partitions from 2024-01-01, so the bar showed 1,040 missing days."""
    from dd_refund_pipeline.demo import DEMO_DAYS, demo_partitions_start, prepare_home

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.delenv("DD_REFUND_PARTITIONS_START", raising=False)
    monkeypatch.delenv("DD_REFUND_DATABASE_URL", raising=False)
    monkeypatch.delenv("DAGSTER_DISABLE_TELEMETRY", raising=False)
    prepare_home()
    start = datetime.fromisoformat(os.environ["DD_REFUND_PARTITIONS_START"]).date()
    assert start == demo_partitions_start()
    today = datetime.now(tz=CHINA_TZ).date()
    assert start == today - timedelta(days=DEMO_DAYS - 1)
    assert os.environ["DAGSTER_DISABLE_TELEMETRY"] == "1"


def test_the_demo_without_a_robot_leaves_the_robot_unset(monkeypatch):
    monkeypatch.setenv("DD_REFUND_DEMO_ROBOT", "off")
    for name in ("DINGTALK_ROBOT_ACCESS_TOKEN", "DINGTALK_ROBOT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    served = _served(monkeypatch, datetime(2026, 12, 3, 9, 0, tzinfo=CHINA_TZ))
    assert served and "DINGTALK_ROBOT_ACCESS_TOKEN" not in os.environ
