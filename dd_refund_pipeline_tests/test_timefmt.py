"""Time strings on the Yida wire: China wall-clock in requests, UTC ISO minutes in responses."""

from datetime import datetime, timezone

import pytest

from dd_refund_pipeline.dingtalk.timefmt import (
    CHINA_TZ,
    format_gmt,
    format_request_time,
    parse_gmt,
    parse_request_time,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-04-27T07:56Z", datetime(2024, 4, 27, 7, 56, tzinfo=timezone.utc)),
        ("2024-04-27T07:56:31Z", datetime(2024, 4, 27, 7, 56, 31, tzinfo=timezone.utc)),
        ("2024-04-27T15:56+08:00", datetime(2024, 4, 27, 7, 56, tzinfo=timezone.utc)),
    ],
)
def test_parse_gmt(text, expected):
    assert parse_gmt(text) == expected


def test_parse_gmt_rejects_other_shapes():
    with pytest.raises(ValueError):
        parse_gmt("2021-05-01")


def test_request_times_are_china_wall_clock():
    moment = datetime(2026, 11, 28, 16, 0, tzinfo=timezone.utc)
    assert format_request_time(moment) == "2026-11-29 00:00:00"
    with pytest.raises(ValueError):
        format_request_time(datetime(2026, 11, 28))


def test_date_only_upper_bound_is_end_of_day():
    end = parse_request_time("2026-11-02", end=True)
    assert end == datetime(2026, 11, 2, 23, 59, 59, 999999, tzinfo=CHINA_TZ)
    assert parse_request_time("2026-11-02 08:30:00") == datetime(
        2026, 11, 2, 8, 30, tzinfo=CHINA_TZ
    )


def test_format_gmt_round_trips_to_the_minute():
    moment = datetime(2026, 1, 2, 3, 4, 59, tzinfo=timezone.utc)
    assert format_gmt(moment) == "2026-01-02T03:04Z"
    assert parse_gmt(format_gmt(moment)) == moment.replace(second=0)
