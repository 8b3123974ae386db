"""What flows between the assets: raw instances per day, and cleaned rows with their rejects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from dd_refund_pipeline.dingtalk.timefmt import parse_gmt


@dataclass
class RawInstances:
    """Yida instances of a window, keyed by the China day they were created on."""

    by_day: dict[str, list[dict[str, Any]]]

    def all(self) -> list[dict[str, Any]]:
        return [item for day in sorted(self.by_day) for item in self.by_day[day]]

    def counts(self) -> dict[str, int]:
        return {day: len(items) for day, items in sorted(self.by_day.items())}

    def ids(self) -> tuple[set[str], int]:
        """The distinct ``processInstanceId`` values, and how many records had none."""
        ids, anonymous = set(), 0
        for item in self.all():
            key = item.get("processInstanceId")
            if key:
                ids.add(str(key))
            else:
                anonymous += 1
        return ids, anonymous


@dataclass
class RefundFrames:
    """Cleaned rows and rejects of a window; both carry ``partition_date``."""

    clean: pd.DataFrame
    rejects: pd.DataFrame


def split_by_day(
    instances: Iterable[Mapping[str, Any]], days: Sequence[str], zone: ZoneInfo
) -> tuple[RawInstances, int]:
    """Assign instances to the window's days by creation time; count those outside the window.

    An instance whose ``createTimeGMT`` cannot be read has no day; it goes to the window's last
    day so that the transform rejects it visibly, instead of it vanishing here.
    """
    by_day: dict[str, list[dict[str, Any]]] = {day: [] for day in days}
    outside = 0
    for instance in instances:
        try:
            day = parse_gmt(str(instance["createTimeGMT"])).astimezone(zone).strftime("%Y-%m-%d")
        except (KeyError, ValueError):
            day = days[-1]
        if day in by_day:
            by_day[day].append(dict(instance))
        else:
            outside += 1
    return RawInstances(by_day), outside
