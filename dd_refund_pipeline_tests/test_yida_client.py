"""The Yida client against the emulator over real HTTP.

Protects the promises the rest of the pipeline builds on: every matching instance exactly once,
at the minimum number of calls, within the QPS limit, through faults, and without ever letting
a secret into an error.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from dd_refund_pipeline.dingtalk.client import YidaClient
from dd_refund_pipeline.dingtalk.errors import DeepPagingError, DingTalkApiError
from dd_refund_pipeline.dingtalk.query import YidaCredentials
from dd_refund_pipeline.dingtalk.ratelimit import SlidingWindowRateLimiter
from dd_refund_pipeline.dingtalk.scan import scan_instances
from dd_refund_pipeline.dingtalk.scan_stats import ScanResult
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.server import EmulatorServer
from dd_refund_pipeline_tests.conftest import (
    AS_OF,
    credentials_for,
    expected_seed_ids,
    fast_settings,
    quiet_scan_calls,
    seed_query,
    window,
)


def scan(server: EmulatorServer, start: datetime, end: datetime, **settings: Any) -> ScanResult:
    config = server.state.config
    return scan_instances(
        credentials_for(config),
        seed_query(config, **settings.pop("query", {})),
        start,
        end,
        base_url=server.base_url,
        settings=fast_settings(**settings),
    )


def ids_of(result: ScanResult) -> list[str]:
    return [str(i["processInstanceId"]) for i in result.instances]


def assert_exactly_once(result: ScanResult, expected: set[str]) -> None:
    ids = ids_of(result)
    duplicates = [key for key, count in Counter(ids).items() if count > 1]
    assert not duplicates, f"returned more than once: {duplicates[:5]}"
    assert set(ids) == expected, (
        f"missing {len(expected - set(ids))}, unexpected {len(set(ids) - expected)}"
    )


def test_scan_returns_exactly_the_matching_instances_at_minimum_calls(shared_emulator):
    start, end = window(60)
    before = Counter(shared_emulator.state.stats.calls)
    result = scan(shared_emulator, start, end)
    expected = expected_seed_ids(shared_emulator, start, end)
    assert len(expected) > 300
    assert_exactly_once(result, expected)
    calls = quiet_scan_calls(len(expected))
    assert result.stats.calls["instances"] == calls
    assert result.stats.calls["accessToken"] == 1
    seen = Counter(shared_emulator.state.stats.calls) - before
    assert seen["instances"] == calls and seen["accessToken"] == 1


@pytest.mark.parametrize(
    ("start", "end"),
    [
        # One Beijing day: the request strings are China wall-clock time.
        (datetime(2026, 11, 3, tzinfo=CHINA_TZ), datetime(2026, 11, 4, tzinfo=CHINA_TZ)),
        # A window that starts and ends mid-day.
        (
            datetime(2026, 10, 10, 13, 30, tzinfo=CHINA_TZ),
            datetime(2026, 10, 17, 9, 45, 30, tzinfo=CHINA_TZ),
        ),
    ],
)
def test_create_windows_are_honoured_in_china_time(shared_emulator, start, end):
    result = scan(shared_emulator, start, end)
    assert_exactly_once(result, expected_seed_ids(shared_emulator, start, end))


def test_every_filter_narrows_the_result(shared_emulator):
    start, end = window(60)
    store = shared_emulator.state.store.instances
    running = scan(
        shared_emulator,
        start,
        end,
        query={
            "instance_status": "RUNNING",
            "approved_result": None,
            "search_fields": {"radioField_lgk9jn2v": "押金退还"},
        },
    )
    low, high = start.timestamp() * 1000, end.timestamp() * 1000
    expected = {
        i.pid
        for i in store
        if i.status == "RUNNING"
        and i.index["radioField_lgk9jn2v"] == "押金退还"
        and low <= i.create_ms <= high
    }
    assert expected
    assert_exactly_once(running, expected)
    bounded = scan(
        shared_emulator,
        start,
        end,
        query={"search_fields": {"numberField_lgkiepjv": ["100", "2000.5"]}},
    )
    expected = {
        i.pid
        for i in store
        if i.status == "COMPLETED"
        and i.result == "agree"
        and i.index["numberField_lgkiepjv"] is not None
        and 100 <= i.index["numberField_lgkiepjv"] <= 2000.5
        and low <= i.create_ms <= high
    }
    assert_exactly_once(bounded, expected)


def test_modified_window_filters_on_modification_time(shared_emulator):
    start, end = window(60)
    since = AS_OF - timedelta(days=5)
    result = scan(shared_emulator, start, end, query={"modified_from": since})
    expected = {
        key
        for key in expected_seed_ids(shared_emulator, start, end)
        if next(i for i in shared_emulator.state.store.instances if i.pid == key).modified_ms
        >= since.timestamp() * 1000
    }
    assert expected
    assert_exactly_once(result, expected)


def test_pagination_reads_to_the_last_short_page(make_emulator):
    server = make_emulator(instances=800)
    start, end = window(60)
    expected = expected_seed_ids(server, start, end)
    result = scan(server, start, end, page_size=30)
    assert_exactly_once(result, expected)
    assert result.stats.calls["instances"] == quiet_scan_calls(len(expected), 30)


def test_token_is_reused_then_refreshed_before_expiry(make_emulator):
    server = make_emulator(instances=100, token_ttl_s=1)
    config = server.state.config
    start, end = window(60)

    async def two_calls_apart() -> YidaClient:
        async with YidaClient(credentials_for(config), server.base_url, fast_settings()) as client:
            for _ in range(3):
                await client.get_instances_page(seed_query(config), start, end, 1)
            await asyncio.sleep(1.1)
            await client.get_instances_page(seed_query(config), start, end, 1)
            return client

    client = asyncio.run(two_calls_apart())
    assert client.stats.calls["accessToken"] == 2
    assert server.state.stats.auth_failures == 0


def test_concurrent_callers_share_one_token_fetch(make_emulator):
    server = make_emulator(instances=100)
    config = server.state.config
    start, end = window(60)

    async def many() -> YidaClient:
        async with YidaClient(credentials_for(config), server.base_url, fast_settings()) as client:
            await asyncio.gather(
                *(client.get_instances_page(seed_query(config), start, end, 1) for _ in range(8))
            )
            return client

    assert asyncio.run(many()).stats.calls["accessToken"] == 1


def test_token_invalidated_mid_scan_is_refreshed_once(make_emulator):
    server = make_emulator(instances=1500, invalidate_token_at_call=4)
    start, end = window(60)
    result = scan(server, start, end)
    assert_exactly_once(result, expected_seed_ids(server, start, end))
    assert result.stats.token_refreshes >= 1
    assert server.state.stats.tokens_issued == 2


def test_client_limit_below_server_limit_is_never_throttled(make_emulator):
    server = make_emulator(instances=3000, qps=10)
    start, end = window(60)
    began = time.monotonic()
    result = scan(server, start, end, qps=9)
    assert_exactly_once(result, expected_seed_ids(server, start, end))
    assert server.state.stats.throttled == 0
    assert server.state.stats.max_per_second <= 9
    calls = result.stats.api_calls
    # 9 calls a second at most, so the scan cannot have been faster than that.
    assert time.monotonic() - began >= (calls - 9) / 9


def test_the_rate_limit_spaces_calls_and_never_starts_more_than_rate_in_a_window():
    async def starts() -> list[float]:
        limiter = SlidingWindowRateLimiter(10, window=0.5, margin=0.02)  # 5 per window
        times = []
        for _ in range(12):
            await limiter.acquire()
            times.append(time.monotonic())
        return times

    times = asyncio.run(starts())
    assert all(later - earlier >= 0.09 for earlier, later in itertools.pairwise(times))
    assert all(later - earlier >= 0.52 for earlier, later in zip(times, times[5:], strict=False))


@pytest.mark.whole_suite  # a fault drill: throttled on purpose
def test_client_faster_than_server_limit_recovers_from_throttling(make_emulator):
    server = make_emulator(instances=3000, qps=5)
    start, end = window(60)
    result = scan(server, start, end, qps=50, max_in_flight=10)
    assert_exactly_once(result, expected_seed_ids(server, start, end))
    assert server.state.stats.throttled > 0
    assert result.stats.throttles == server.state.stats.throttled


@pytest.mark.whole_suite  # a fault drill: 10% of the answers fail
def test_transient_faults_are_retried_to_the_exact_result(make_emulator):
    server = make_emulator(
        instances=3000,
        error_rate=0.1,
        drop_rate=0.08,
        hang_rate=0.05,
        hang_s=3,
        bad_body_rate=0.08,
    )
    start, end = window(60)
    # Small pages: enough calls (about 40) for every kind of fault to occur.
    result = scan(server, start, end, timeout_s=0.5, page_size=25)
    assert_exactly_once(result, expected_seed_ids(server, start, end))
    faults = server.state.stats.faults
    assert faults["error"] and faults["drop"] and faults["hang"] and faults["bad_body"]
    assert result.stats.retries >= sum(faults.values())


def test_non_retryable_error_carries_code_and_requestid_but_no_secret(make_emulator):
    server = make_emulator(instances=10)
    config = server.state.config
    wrong = YidaCredentials(config.app_key, config.app_secret, "WRONG-SYSTEM-TOKEN-123")
    start, end = window(10)
    with pytest.raises(DingTalkApiError) as raised:
        scan_instances(
            wrong,
            seed_query(config),
            start,
            end,
            base_url=server.base_url,
            settings=fast_settings(),
        )
    error = raised.value
    assert error.status == 400
    assert error.code == "invalidParameter.parameter.accessKeyNotMatch"
    assert error.requestid and len(error.requestid) >= 16
    text = f"{error} {error!r} {error.__cause__} {error.__context__}"
    for secret in ("WRONG-SYSTEM-TOKEN-123", config.app_secret, *server.state.tokens):
        assert secret not in text
    assert server.state.stats.calls["instances"] == 1  # not retried


def test_bad_credentials_fail_with_dingtalk_code(make_emulator):
    server = make_emulator(instances=10)
    config = server.state.config
    wrong = YidaCredentials(config.app_key, "not-the-secret", config.system_token)
    with pytest.raises(DingTalkApiError) as raised:
        scan_instances(
            wrong,
            seed_query(config),
            *window(10),
            base_url=server.base_url,
            settings=fast_settings(),
        )
    assert raised.value.code == "invalidClientIdOrSecret"
    assert "not-the-secret" not in str(raised.value)


def test_windows_beyond_the_deep_paging_cap_are_split(make_emulator):
    server = make_emulator(instances=4000, deep_paging_cap=500)
    start, end = window(60)
    expected = expected_seed_ids(server, start, end)
    assert len(expected) > 1000
    result = scan(server, start, end, deep_paging_cap=500)
    assert_exactly_once(result, expected)
    assert result.stats.window_splits >= 1


def test_deep_paging_error_is_typed_when_the_client_cap_is_too_high(make_emulator):
    server = make_emulator(instances=4000, deep_paging_cap=500)
    with pytest.raises(DeepPagingError):
        scan(server, *window(60), deep_paging_cap=5000)


def test_forms_approved_and_filed_during_a_scan_come_back_once(make_emulator):
    """Forms approved and filed while pages are read come back, each exactly once."""
    now = datetime.now(tz=CHINA_TZ)
    server = make_emulator(
        as_of=now,
        instances=3000,
        live_complete_per_call=3,
        live_create_per_call=1,
        live_max_events=20,
    )
    start, end = now - timedelta(days=60), now + timedelta(hours=1)
    result = scan(server, start, end, max_in_flight=4)
    state = server.state.stats
    assert state.live_completed > 0 and state.live_created > 0
    # Live mode stops within the first pass (20 events, 4 a call, 8 pages), so the ground truth
    # after the scan is what matched throughout it: every one of those must be there once.
    assert state.calls["instances"] > 5
    assert_exactly_once(result, expected_seed_ids(server, start, end))
    # They were modified after the scan began: one query for what changed since reads them,
    # no part of the window is read twice.
    assert result.stats.drift_repairs == 0
