"""What flows between the assets: raw instances per day, and cleaned rows with their rejects.

A window's raw instances are read one day at a time (from the scan's spool or from the per-day
files), never held all at once: at 200,000 forms the payloads as Python objects would take
gigabytes, while a day of them takes a few megabytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd

from dd_refund_pipeline.days.partition_files import (
    REJECTS_SCHEMA,
    clean_schema,
    decode_frame,
    encode_frame,
)
from dd_refund_pipeline.days.raw_instances import BATCH_INSTANCES, RawInstances
from dd_refund_pipeline.forms.spec import FormSpec
from dd_refund_pipeline.transform.instances import (
    TransformResult,
    empty_rejects,
    rejected_records,
    transform_instances,
)

DayFrames = tuple[pd.DataFrame, pd.DataFrame]
# A day's cleaned rows and rejects as the bytes of their Parquet files.
DayFiles = tuple[bytes, bytes]
# What the uniqueness check reads of every clean row, besides the key.
CHECKED_LINEAGE = ["partition_date", "source_version"]


class FormFrames:
    """Cleaned rows and rejects of a window, per day; both carry ``partition_date``.

    Read a day at a time (from the transform's encoded days, from the per-day files after
    that), so that loading a long window never needs all of its rows at once. ``spec`` is the
    form spec the rows were cleaned with (its column types are how they are stored).
    """

    def __init__(
        self,
        days: Sequence[str],
        read_day: Callable[[str], DayFrames],
        spec: FormSpec | None = None,
        read_files: Callable[[str], DayFiles] | None = None,
    ) -> None:
        self.days = sorted(days)
        self._read_day = read_day
        self.spec = spec
        self._read_files = read_files

    def day(self, key: str) -> DayFrames:
        """The cleaned rows and the rejects of one day."""
        return self._read_day(key)

    def files(self, key: str) -> DayFiles:
        """One day as the bytes of its two Parquet files (encoded now unless it already is)."""
        if self._read_files is not None:
            return self._read_files(key)
        if self.spec is None:
            raise TypeError("cleaned rows without the form spec they follow")
        clean, rejects = self.day(key)
        return encode_frame(clean, clean_schema(self.spec)), encode_frame(rejects, REJECTS_SCHEMA)


# Rows a preview shows, in the run's metadata and the check samples' tables.
PREVIEW_ROWS = 10


@dataclass
class WindowSummary:
    """What one pass over a window's frames saw: rows per day, keys, rejects, the first rows."""

    rows: dict[str, int] = field(default_factory=dict)
    # The clean rows' keys of each day, for the checks' verdict per day.
    day_keys: dict[str, set[str]] = field(default_factory=dict)
    rejects_seen: list[pd.DataFrame] = field(default_factory=list)
    first_rows: list[pd.DataFrame] = field(default_factory=list)

    def note(self, day: str, clean: pd.DataFrame, rejects: pd.DataFrame, key: str) -> None:
        """Note what one day (or a part of it) holds."""
        self.rows[day] = self.rows.get(day, 0) + len(clean)
        self.day_keys.setdefault(day, set()).update(clean[key])
        if len(rejects):
            self.rejects_seen.append(rejects)
        shown = sum(len(f) for f in self.first_rows)
        if shown < PREVIEW_ROWS and len(clean):
            # A copy: a view would keep the whole day's rows alive.
            self.first_rows.append(clean.head(PREVIEW_ROWS - shown).copy())

    def watch(self, frames: FormFrames, key: str) -> Iterator[DayFrames]:
        """Pass ``frames`` through a day at a time (to the loader), noting what goes by."""
        for day in frames.days:
            clean, rejects = frames.day(day)
            self.note(day, clean, rejects, key)
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


def transform_batches(
    raw: RawInstances, spec: FormSpec, size: int = BATCH_INSTANCES
) -> Iterator[TransformResult]:
    """The window transformed a batch of whole days at a time; rejects keep their stored day."""
    for items, days in raw.batches(size):
        yield transform_instances(items, spec, days=days)


@dataclass
class CleanedWindow:
    """A window's transform: its days, what went by, and what the uniqueness check reads."""

    frames: FormFrames
    summary: WindowSummary
    # Copies of a form merged within a day (the newest kept).
    duplicates: int
    # The key, day and version of every clean row: a form under two days shows up here.
    checked: pd.DataFrame


class _EncodedDays:
    """Each day's cleaned rows and rejects as the bytes of their Parquet files.

    A day is encoded as soon as its batch is transformed, so a window's rows are never all in
    memory as frames (at 10,000 rows the transform kept 560 bytes a row with frames, 314 with
    encoded days; 200,000 forms' files take ~12 MB). The day files are these very bytes.
    """

    def __init__(self, spec: FormSpec) -> None:
        self.schemas = (clean_schema(spec), REJECTS_SCHEMA)
        # A day without any record: the columns, no rows.
        self.blank = transform_instances([], spec)
        self.empty = self._encoded(self.blank.clean, self.blank.rejects)
        self.parts: dict[str, list[DayFiles]] = {}

    def _encoded(self, clean: pd.DataFrame, rejects: pd.DataFrame) -> DayFiles:
        return encode_frame(clean, self.schemas[0]), encode_frame(rejects, self.schemas[1])

    def add(self, day: str, clean: pd.DataFrame, rejects: pd.DataFrame) -> None:
        self.parts.setdefault(day, []).append(self._encoded(clean, rejects))

    def frames(self, day: str) -> DayFrames:
        parts = self.parts.get(day) or [self.empty]
        decoded = [(decode_frame(clean), decode_frame(rejects)) for clean, rejects in parts]
        if len(decoded) == 1:
            return decoded[0]
        clean = pd.concat([part[0] for part in decoded], ignore_index=True)
        return clean, pd.concat([part[1] for part in decoded], ignore_index=True)

    def files(self, day: str) -> DayFiles:
        parts = self.parts.get(day) or [self.empty]
        # Rows of one day from two batches (a form stored under another day than the one it
        # was created on) are joined into one file.
        return parts[0] if len(parts) == 1 else self._encoded(*self.frames(day))


def _days_of(result: TransformResult) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """A batch's cleaned rows and rejects, split by ``partition_date``."""
    split = [
        {str(day): part for day, part in frame.groupby("partition_date", dropna=False)}
        for frame in (result.clean, result.rejects)
    ]
    for day in sorted({*split[0], *split[1]}):
        yield (
            day,
            split[0].get(day, result.clean.iloc[:0]).reset_index(drop=True),
            split[1].get(day, result.rejects.iloc[:0]).reset_index(drop=True),
        )


def transform_window(
    raw: RawInstances, spec: FormSpec, batch_size: int = BATCH_INSTANCES
) -> CleanedWindow:
    """The cleaned rows and rejects of a window per day, each day encoded as it is finished."""
    key = spec.target.key
    summary, encoded, duplicates, checked = WindowSummary(), _EncodedDays(spec), 0, []
    for result in transform_batches(raw, spec, batch_size):
        duplicates += result.duplicates_dropped
        for day, clean, rejects in _days_of(result):
            summary.note(day, clean, rejects, key)
            # A copy: a view would keep the day's other columns alive.
            checked.append(clean[[key, *CHECKED_LINEAGE]].copy())
            encoded.add(day, clean, rejects)
    days = sorted({*raw.days, *encoded.parts})
    empty = encoded.blank
    for day in days:
        if day not in summary.rows:
            summary.note(day, empty.clean, empty.rejects, key)
    summary.rows = {day: summary.rows[day] for day in days}
    frames = FormFrames(days, encoded.frames, spec, encoded.files)
    ids = pd.concat(checked, ignore_index=True) if checked else empty.clean[[key, *CHECKED_LINEAGE]]
    return CleanedWindow(frames, summary, duplicates, ids)
