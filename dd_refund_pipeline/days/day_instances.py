"""Reading a window's instances one creation day at a time, wherever they are kept.

The raw data walks from the scan to the stored day files and back: in memory (tests, small
windows), in the scan's spool (``InstanceSet``, right after a scan), or in the day files of an
earlier run (``partition_files.StoredDays``). Each of those is a ``DayInstances``: the asset code
asks a day for its instances, their JSON lines, their keys or their count, and never learns
which one it holds. ``split_by_day`` turns a scan's spool into one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from dd_refund_pipeline.dingtalk import payload_json
from dd_refund_pipeline.dingtalk.instance_set import InstanceSet
from dd_refund_pipeline.dingtalk.timefmt import local_days


class DayInstances(Protocol):
    """A window's instances, by the China day they were created on."""

    @property
    def days(self) -> list[str]:
        """The window's days, in order (a day may hold no instance)."""
        ...

    def count(self, day: str) -> int:
        """How many instances ``day`` holds, decoding nothing where it can."""
        ...

    def instances(self, day: str) -> list[dict[str, Any]]:
        """The decoded instances of ``day``."""
        ...

    def lines(self, day: str) -> list[bytes]:
        """The instances of ``day`` as compact JSON lines (``payload_json.dumps``)."""
        ...

    def keys(self, day: str) -> list[str]:
        """The record keys of ``day`` (ids, or digests for records without one)."""
        ...


class InMemoryDays:
    """Instances already decoded, as lists per day."""

    def __init__(self, by_day: Mapping[str, list[dict[str, Any]]]) -> None:
        self._by_day = {day: list(items) for day, items in by_day.items()}
        self.days = sorted(self._by_day)

    def count(self, day: str) -> int:
        """How many instances ``day`` holds."""
        return len(self._by_day.get(day, []))

    def instances(self, day: str) -> list[dict[str, Any]]:
        """The instances of ``day``."""
        return list(self._by_day.get(day, []))

    def lines(self, day: str) -> list[bytes]:
        """The instances of ``day``, encoded."""
        return [payload_json.dumps(item) for item in self.instances(day)]

    def keys(self, day: str) -> list[str]:
        """The record keys of ``day``."""
        return [payload_json.record_key(item) for item in self.instances(day)]


class SpoolDays:
    """A scan's instances in its spool, with the rows of each day from the set's index."""

    def __init__(self, found: InstanceSet, rows_by_day: Mapping[str, np.ndarray]) -> None:
        self._found = found
        # Row numbers stay arrays until a day is asked for: no Python object per form.
        self._rows = dict(rows_by_day)
        self.days = sorted(self._rows)

    def _of(self, day: str) -> list[int]:
        rows = self._rows.get(day)
        return [] if rows is None else rows.tolist()

    def count(self, day: str) -> int:
        """How many instances ``day`` holds (from the index)."""
        rows = self._rows.get(day)
        return 0 if rows is None else len(rows)

    def instances(self, day: str) -> list[dict[str, Any]]:
        """The instances of ``day``, decoded from the spool."""
        return self._found.read(self._of(day))

    def lines(self, day: str) -> list[bytes]:
        """The spool's lines of ``day``, as the scan wrote them."""
        return self._found.read_lines(self._of(day))

    def keys(self, day: str) -> list[str]:
        """The record keys of ``day``, from the index (nothing decoded)."""
        return self._found.keys_of(self._of(day))


def split_by_day(
    found: InstanceSet, days: Sequence[str], zone: ZoneInfo
) -> tuple[SpoolDays, list[dict[str, Any]]]:
    """Assign a scan's instances to the window's days by creation time; return those outside.

    An instance whose ``createTimeGMT`` cannot be read has no day; it goes to the window's last
    day so that the transform rejects it visibly, instead of it vanishing here. One whose
    creation day lies outside the window (Yida returned it for days it was not created on) is
    returned decoded, for the caller to quarantine. Only the set's index is walked: each day's
    payloads are read from the scan's spool when that day is asked.
    """
    rows = found.rows()
    names = local_days(pd.to_datetime(found.created(rows), unit="s", utc=True), zone)
    names[names == "NaT"] = days[-1]
    by_day = {day: rows[names == day] for day in days}
    outside = rows[~np.isin(names, list(days))]
    return SpoolDays(found, by_day), found.read(outside.tolist())
