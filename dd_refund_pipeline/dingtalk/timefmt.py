"""Time formats on the Yida wire.

Requests carry wall-clock strings (``yyyy-MM-dd HH:mm:ss``) in the tenant's zone, China time by
default; responses carry ``createTimeGMT``/``modifiedTimeGMT`` as ISO-8601 UTC with minute
precision (``2024-04-27T07:56Z``), seconds optional.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

CHINA_TZ = ZoneInfo("Asia/Shanghai")
REQUEST_FORMAT = "%Y-%m-%d %H:%M:%S"

GMT_PATTERN = (
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:?\d{2})$"
)
_GMT_RE = re.compile(GMT_PATTERN)


def format_request_time(moment: datetime, zone: ZoneInfo = CHINA_TZ) -> str:
    """Render an aware datetime as the wall-clock string Yida expects in ``*TimeGMT`` fields."""
    if moment.tzinfo is None:
        raise ValueError("request times must be timezone-aware")
    return moment.astimezone(zone).strftime(REQUEST_FORMAT)


def parse_gmt(value: str) -> datetime:
    """Parse a response timestamp (``2024-04-27T07:56Z``, seconds optional) as aware UTC."""
    match = _GMT_RE.match(value.strip())
    if not match:
        raise ValueError(f"not a Yida GMT timestamp: {value!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    parsed = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
        int((fraction or "0").ljust(6, "0")),
        tzinfo=timezone.utc,
    )
    if zone != "Z":
        offset = datetime.strptime(zone.replace(":", ""), "%z").utcoffset()
        assert offset is not None
        parsed = parsed - offset
    return parsed


def format_gmt(moment: datetime) -> str:
    """Render an aware datetime the way Yida responses do: UTC, minute precision, literal Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


_REQUEST_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def parse_request_time(value: str, zone: ZoneInfo = CHINA_TZ, *, end: bool = False) -> datetime:
    """Parse a request window bound as Yida does.

    Accepts ``yyyy-MM-dd``, ``yyyy-MM-dd HH:mm`` and ``yyyy-MM-dd HH:mm:ss`` in ``zone``, and ISO
    ``…THH:mm[:ss]Z``. A date-only upper bound (``end=True``) means the end of that day, since Yida
    documents date bounds as inclusive days.
    """
    text = value.strip()
    if "T" in text:
        return parse_gmt(text)
    for fmt in _REQUEST_FORMATS:
        try:
            naive = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d" and end:
            naive = naive.replace(hour=23, minute=59, second=59, microsecond=999999)
        elif end and fmt == "%Y-%m-%d %H:%M":
            naive = naive.replace(second=59, microsecond=999999)
        elif end:
            naive = naive.replace(microsecond=999999)
        return naive.replace(tzinfo=zone)
    raise ValueError(f"unsupported time format: {value!r}")


# The days MySQL documents its DATE type to hold.
_FIRST_TABLE_DAY = np.datetime64("1000-01-01", "D")
_LAST_TABLE_DAY = np.datetime64("9999-12-31", "D")


def local_days(moments: pd.Series | pd.DatetimeIndex, zone: ZoneInfo) -> np.ndarray:
    """``YYYY-MM-DD`` of each UTC moment in ``zone``, ``"NaT"`` where there is none a table holds.

    The day a form belongs to (its partition) is the China day of its ``createTimeGMT``: the
    transform and the split of a scan into days both ask here. Numpy's formatter, not strftime
    per row: a window holds hundreds of thousands of forms.
    """
    index = pd.DatetimeIndex(moments)
    local = index.tz_convert(zone).tz_localize(None).to_numpy(dtype="datetime64[D]")
    # A day no DATE column holds is no day: 9999-12-31T23:59Z is China day 10000-01-01.
    table_day = (local >= _FIRST_TABLE_DAY) & (local <= _LAST_TABLE_DAY)
    return np.where(table_day, np.datetime_as_string(local, unit="D"), "NaT").astype("U10")
