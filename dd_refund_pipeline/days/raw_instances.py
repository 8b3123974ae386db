"""A window's raw Yida instances, by the China day they were created on, read a day at a time.

Wherever they are (in memory, the scan's spool, the stored day files), never held all at once:
at 200,000 forms the payloads as Python objects would take gigabytes, while a day of them takes
a few megabytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dd_refund_pipeline.days.day_instances import DayInstances, InMemoryDays
from dd_refund_pipeline.dingtalk import payload_json

# Days are transformed together up to about this many instances: one pandas pass per batch
# instead of one per day (each pass has a fixed cost), with memory still bounded.
BATCH_INSTANCES = 5_000


class RawInstances:
    """Yida instances of a window, by the China day they were created on, read a day at a time.

    Wherever they are (``DayInstances``: in memory, the scan's spool, the stored day files), the
    assets read them the same way.
    """

    def __init__(self, source: DayInstances) -> None:
        self.source = source
        self.days = list(source.days)

    @classmethod
    def from_lists(cls, by_day: Mapping[str, list[dict[str, Any]]]) -> RawInstances:
        """Instances already in memory, as lists per day."""
        return cls(InMemoryDays(by_day))

    def day(self, key: str) -> list[dict[str, Any]]:
        """The instances created on ``key`` (empty for a day of the window without any)."""
        return self.source.instances(key) if key in self.days else []

    def lines(self, key: str) -> list[bytes]:
        """The day's instances as compact JSON lines (as the scan stored them, when it did)."""
        return self.source.lines(key) if key in self.days else []

    def counts(self) -> dict[str, int]:
        """Instances per day."""
        return {day: self.source.count(day) for day in self.days}

    def batches(
        self, size: int = BATCH_INSTANCES
    ) -> Iterator[tuple[list[dict[str, Any]], list[str]]]:
        """Whole days grouped up to ``size`` instances: the instances and each one's day.

        Groups are planned from the day counts, so only the batch being handed out is ever read
        (no day read ahead to find where a batch ends).
        """
        for group in _grouped(self.days, self.counts(), size):
            items: list[dict[str, Any]] = []
            days: list[str] = []
            for day in group:
                found = self.day(day)
                items += found
                days += [day] * len(found)
            if items:
                yield items, days

    def keys(self, key: str) -> list[str]:
        """The day's record keys: ids, or digests for records without one.

        From the scan's index or the day's key file when there is one (nothing decoded): the
        checks compare the table with these, so they must not come from the transform.
        """
        return self.source.keys(key) if key in self.days else []

    def ids(self) -> tuple[set[str], int]:
        """The distinct ``processInstanceId`` values, and how many records had none."""
        ids, anonymous = set(), 0
        for day in self.days:
            for key in self.keys(day):
                if payload_json.is_anonymous(key):
                    anonymous += 1
                else:
                    ids.add(key)
        return ids, anonymous


def _grouped(days: Sequence[str], counts: Mapping[str, int], size: int) -> list[list[str]]:
    """Consecutive days in groups of at most ``size`` instances (a bigger day stands alone)."""
    groups: list[list[str]] = []
    held = 0
    for day in days:
        count = counts.get(day, 0)
        if not groups or held + count > size:
            groups.append([])
            held = 0
        groups[-1].append(day)
        held += count
    return groups
