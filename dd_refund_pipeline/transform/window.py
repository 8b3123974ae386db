"""What flows between the assets: raw instances per day, and cleaned rows with their rejects.

A window's raw instances are read one day at a time (from the scan's spool or from the per-day
files), never held all at once: at 200,000 forms the payloads as Python objects would take
gigabytes, while a day of them takes a few megabytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from dd_refund_pipeline.days.raw_instances import RawInstances
from dd_refund_pipeline.forms.spec import FormSpec
from dd_refund_pipeline.transform.instances import (
    TransformResult,
    empty_rejects,
    rejected_records,
    transform_instances,
)

DayFrames = tuple[pd.DataFrame, pd.DataFrame]


class FormFrames:
    """Cleaned rows and rejects of a window, per day; both carry ``partition_date``.

    Read a day at a time (from memory after the transform, from the per-day files after that),
    so that loading a long window never needs all of its rows at once. ``spec`` is the form
    spec the rows were cleaned with (its column types are how they are stored).
    """

    def __init__(
        self,
        days: Sequence[str],
        read_day: Callable[[str], DayFrames],
        spec: FormSpec | None = None,
    ) -> None:
        self.days = sorted(days)
        self._read_day = read_day
        self.spec = spec

    @classmethod
    def from_parts(
        cls,
        days: Sequence[str],
        clean: Mapping[str, list[pd.DataFrame]],
        rejects: Mapping[str, list[pd.DataFrame]],
        empty: DayFrames,
        spec: FormSpec,
    ) -> FormFrames:
        """Frames held in memory, as pieces per day (``empty`` gives the columns)."""
        by_day = {
            day: (_joined(clean.get(day, []), empty[0]), _joined(rejects.get(day, []), empty[1]))
            for day in sorted({*days, *clean, *rejects})
        }
        return cls(list(by_day), by_day.__getitem__, spec)

    def day(self, key: str) -> DayFrames:
        """The cleaned rows and the rejects of one day."""
        return self._read_day(key)

    def clean_columns(self, columns: Sequence[str]) -> pd.DataFrame:
        """Some columns of every day's cleaned rows, as one frame."""
        frames = [self.day(day)[0][list(columns)] for day in self.days]
        return (
            pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))
        )


# Rows a preview shows, in the run's metadata and the check samples' tables.
PREVIEW_ROWS = 10


@dataclass
class WindowSummary:
    """What one pass over a window's frames saw: rows per day, keys, rejects, the first rows."""

    rows: dict[str, int] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)
    # The clean rows' keys of each day, for the checks' verdict per day.
    day_keys: dict[str, set[str]] = field(default_factory=dict)
    rejects_seen: list[pd.DataFrame] = field(default_factory=list)
    first_rows: list[pd.DataFrame] = field(default_factory=list)

    def watch(self, frames: FormFrames, key: str) -> Iterator[DayFrames]:
        """Pass ``frames`` through a day at a time (to the loader), noting what goes by."""
        for day in frames.days:
            clean, rejects = frames.day(day)
            self.rows[day] = len(clean)
            self.day_keys[day] = set(clean[key])
            self.keys.update(self.day_keys[day])
            if len(rejects):
                self.rejects_seen.append(rejects)
            shown = sum(len(f) for f in self.first_rows)
            if shown < PREVIEW_ROWS and len(clean):
                self.first_rows.append(clean.head(PREVIEW_ROWS - shown))
            yield clean, rejects

    def read(self, frames: FormFrames, key: str) -> WindowSummary:
        """One pass over ``frames`` for its summary alone."""
        for _ in self.watch(frames, key):
            pass
        return self

    @property
    def total_rows(self) -> int:
        """Clean rows of the whole window."""
        return sum(self.rows.values())

    def rejects(self) -> pd.DataFrame:
        """Every rejected record of the window (one row per record and field)."""
        seen = self.rejects_seen
        return pd.concat(seen, ignore_index=True) if seen else empty_rejects()

    def rejected_records(self) -> int:
        """Source records rejected in the window."""
        return rejected_records(self.rejects())

    def rejected_by_day(self) -> dict[str, int]:
        """Source records rejected, per day of creation."""
        rejects = self.rejects()
        if not len(rejects):
            return {}
        return {str(day): rejected_records(part) for day, part in rejects.groupby("partition_date")}

    def head(self) -> pd.DataFrame:
        """The window's first rows (at most ``PREVIEW_ROWS``), for the run's preview."""
        return pd.concat(self.first_rows, ignore_index=True) if self.first_rows else pd.DataFrame()


def _joined(pieces: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    if len(pieces) == 1:
        return pieces[0].reset_index(drop=True)
    return pd.concat(pieces, ignore_index=True) if pieces else empty


def transform_batches(raw: RawInstances, spec: FormSpec) -> Iterator[TransformResult]:
    """The window transformed a batch of whole days at a time; rejects keep their stored day."""
    for items, days in raw.batches():
        yield transform_instances(items, spec, days=days)


def transform_window(raw: RawInstances, spec: FormSpec) -> tuple[FormFrames, int]:
    """The cleaned rows and rejects of a window per day, and how many duplicate copies merged."""
    clean: dict[str, list[pd.DataFrame]] = {}
    rejects: dict[str, list[pd.DataFrame]] = {}
    duplicates = 0
    for result in transform_batches(raw, spec):
        duplicates += result.duplicates_dropped
        for pieces, frame in ((clean, result.clean), (rejects, result.rejects)):
            for day, piece in frame.groupby("partition_date", sort=False, dropna=False):
                pieces.setdefault(str(day), []).append(piece)
    empty = transform_instances([], spec)
    frames = FormFrames.from_parts(raw.days, clean, rejects, (empty.clean, empty.rejects), spec)
    return frames, duplicates
