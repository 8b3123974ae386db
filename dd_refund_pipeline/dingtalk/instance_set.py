"""The instance store of a scan: each form once, its newest copy, in a compact spool.

Which copy of a form is the newest is decided here for the whole project (``copy_rank``): the
scan keeps it while it reads, the transform keeps it when stored days are merged.
"""

from __future__ import annotations

import array
import math
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from dd_refund_pipeline.dingtalk import payload_json
from dd_refund_pipeline.dingtalk.timefmt import parse_gmt

# Payloads of a scan stay in memory up to this size (about 2,600 forms), then move to a temporary
# file. Until then their decoded objects are kept too, and those take about 4.7 times their JSON:
# 4 MB of spool hold ~20 MB of objects. At 32 MB they were ~150 MB, freed at the rollover but kept
# by the process (their pages are shared with what the scan keeps): a large scan grew by that much.
SPOOL_IN_MEMORY_BYTES = 4 * 1024 * 1024
_UNKNOWN = math.nan


def gmt_seconds(value: Any) -> float:
    """A response timestamp as POSIX seconds; NaN when it is missing or unreadable."""
    try:
        return parse_gmt(str(value)).timestamp()
    except ValueError:
        return _UNKNOWN


def rank(version: int, modified: float) -> tuple[int, float]:
    """Newer edits win: the higher ``version``, then the later ``modifiedTimeGMT``."""
    return version, -math.inf if math.isnan(modified) else modified


def copy_rank(instance: Mapping[str, Any]) -> tuple[int, float]:
    """How new a copy of a form is (compare two copies of one id: the greater is newer)."""
    return rank(instance_version(instance), gmt_seconds(instance.get("modifiedTimeGMT")))


def instance_version(instance: Mapping[str, Any]) -> int:
    """The instance's ``version`` (-1 when missing or unreadable: older than any real one)."""
    try:
        return int(instance.get("version"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return -1


class InstanceSet:
    """Instances keyed by ``processInstanceId``, keeping the newest copy of each.

    A 25-day window can hold hundreds of thousands of forms, so payloads are not kept as Python
    objects: each accepted instance is appended as one compact JSON line to a spool (in memory
    while small, a temporary file beyond ``SPOOL_IN_MEMORY_BYTES``), and the set keeps only a
    row per instance in flat arrays (version, create and modify times, where its line is): about
    200 bytes a form. Records without an id are kept too (keyed by their content, so a page read
    twice does not double them) for the transform to reject visibly instead of the client
    dropping them.
    """

    def __init__(self, spool_in_memory_bytes: int = SPOOL_IN_MEMORY_BYTES) -> None:
        self.by_id: dict[str, int] = {}
        self.anonymous: dict[str, int] = {}
        self._version = array.array("q")
        self._created = array.array("d")
        self._modified = array.array("d")
        self._offset = array.array("q")
        self._length = array.array("q")
        # Lives as long as the set (the window's days are read from it after the scan); the
        # temporary file is removed when it is closed or collected.
        self._spool = tempfile.SpooledTemporaryFile(max_size=spool_in_memory_bytes)  # noqa: SIM115
        # While the spool is small, the decoded payloads are kept too: a daily window is read
        # back without decoding it a second time. Dropped once the spool passes its size.
        self._in_memory_bytes = spool_in_memory_bytes
        self._objects: dict[int, Any] | None = {}
        # Row → key, built when first asked (after the scan, when the set no longer changes).
        self._keys_by_row: dict[int, str] | None = None

    def _append(self, item: Any, version: int, modified: float) -> int:
        line = payload_json.dumps(item)
        end = self._offset[-1] + self._length[-1] if self._offset else 0
        self._spool.seek(end)
        self._spool.write(line)
        fields = item if isinstance(item, dict) else {}
        self._version.append(version)
        self._created.append(gmt_seconds(fields.get("createTimeGMT")))
        self._modified.append(modified)
        self._offset.append(end)
        self._length.append(len(line))
        row = len(self._offset) - 1
        if self._objects is not None:
            if end + len(line) > self._in_memory_bytes:
                self._objects = None
            else:
                self._objects[row] = item
        return row

    def _rank(self, row: int) -> tuple[int, float]:
        return rank(self._version[row], self._modified[row])

    def add(self, items: Iterable[Any]) -> set[str]:
        """Merge ``items``; returns the keys seen (ids, or ``sha1:…`` for records without one)."""
        seen: set[str] = set()
        for item in items:
            key = payload_json.record_key(item)
            if payload_json.is_anonymous(key):
                anonymous_key = key
                seen.add(anonymous_key)
                if anonymous_key not in self.anonymous:
                    self.anonymous[anonymous_key] = self._append(item, -1, _UNKNOWN)
                continue
            seen.add(key)
            version, modified = instance_version(item), gmt_seconds(item.get("modifiedTimeGMT"))
            current = self.by_id.get(key)
            if current is None or rank(version, modified) > self._rank(current):
                self.by_id[key] = self._append(item, version, modified)
                if current is not None and self._objects is not None:
                    self._objects.pop(current, None)
        return seen

    def __len__(self) -> int:
        return len(self.by_id) + len(self.anonymous)

    def _held(self) -> np.ndarray:
        held = np.fromiter(self.by_id.values(), dtype=np.int64, count=len(self.by_id))
        return np.concatenate([held, np.fromiter(self.anonymous.values(), dtype=np.int64)])

    def rows(self) -> np.ndarray:
        """The rows of the newest copies, in the order their payloads were stored."""
        return np.sort(self._held())

    def created(self, rows: np.ndarray) -> np.ndarray:
        """``createTimeGMT`` of ``rows`` as POSIX seconds (NaN when unreadable)."""
        return np.array(self._created, dtype=np.float64)[rows]

    def discard(self, keys: Iterable[str]) -> None:
        """Forget ``keys``: forms that turned out to have left the result set."""
        for key in keys:
            row = self.by_id.pop(key, None)
            if row is None:
                row = self.anonymous.pop(key, None)
            if row is not None and self._objects is not None:
                self._objects.pop(row, None)

    def read_lines(self, rows: Iterable[int]) -> list[bytes]:
        """The payloads of ``rows`` as stored: compact JSON, UTF-8, one per row."""
        lines = []
        for row in rows:
            self._spool.seek(self._offset[row])
            lines.append(self._spool.read(self._length[row]))
        return lines

    def read(self, rows: Iterable[int]) -> list[Any]:
        """The payloads of ``rows``, in that order (shared with the set: do not change them)."""
        if self._objects is not None:
            return [self._objects[row] for row in rows]
        return [payload_json.loads(line) for line in self.read_lines(rows)]

    def __iter__(self) -> Iterator[Any]:
        rows = self.rows()
        for start in range(0, len(rows), 1000):
            yield from self.read(rows[start : start + 1000].tolist())

    def keys_of(self, rows: Iterable[int]) -> list[str]:
        """The keys (ids, or ``sha1:…`` digests) of ``rows``, from the index: nothing decoded."""
        if self._keys_by_row is None:
            self._keys_by_row = {row: key for key, row in self.by_id.items()}
            self._keys_by_row.update((row, key) for key, row in self.anonymous.items())
        return [self._keys_by_row[row] for row in rows]

    def close(self) -> None:
        """Delete the spool file."""
        self._spool.close()
