"""A scan: every form of a query created in a window, read whole though the index moves.

One scan of a create-time window costs one token call plus ``ceil(matches / 100)`` list calls
when nothing goes wrong. Pages after the first are fetched concurrently (``client`` keeps them
within the QPS limit). Yida pages are offsets into a live search index, so a scan proves each
read stable and re-reads what moved while it was reading: forms that left the result set are
dropped by id, skipped ones are found again; a window over the deep-paging cap is split.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from dd_refund_pipeline.dingtalk.client import REPAIRING, YidaClient
from dd_refund_pipeline.dingtalk.errors import DingTalkApiError, RetryableApiError
from dd_refund_pipeline.dingtalk.instance_set import InstanceSet, gmt_seconds, instance_version
from dd_refund_pipeline.dingtalk.query import (
    DEFAULT_BASE_URL,
    ClientSettings,
    Page,
    YidaCredentials,
    YidaQuery,
)
from dd_refund_pipeline.dingtalk.scan_stats import ScanResult, ScanStats


@dataclass
class _Read:
    """What one read of a part proves: each page's totalCount, the keys, the last page."""

    totals: list[int]
    keys: set[str]
    last_items: list[Any]


class WindowScan:
    """The reads of one scan, through one client (its token, limits and counters)."""

    def __init__(self, client: YidaClient) -> None:
        self.client = client

    async def scan(
        self,
        query: YidaQuery,
        create_from: datetime,
        create_to: datetime,
        *,
        expect_few: bool = False,
    ) -> ScanResult:
        """Every instance matching ``query`` created in ``[create_from, create_to]``, once each.

        ``expect_few``: a look that is usually empty (a sweep for late changes) costs one call
        when everything fits one page, which is one consistent answer; a full scan otherwise.
        """
        started = time.monotonic()
        found = InstanceSet()
        first = None
        if expect_few:
            first = await self.client.get_instances_page(query, create_from, create_to, 1)
        if first is not None and first.total_count <= len(first.items):
            found.add(first.items)
        else:
            # Settled forms first, then the few changed since: those are the freshest, read last.
            for part in self._settled_and_recent(query, datetime.now(tz=self.client.settings.zone)):
                await self._read_part(part, create_from, create_to, found, set())
        self.client.stats.instances = len(found)
        self.client.stats.elapsed_s = time.monotonic() - started
        return ScanResult(found, self.client.stats)

    def _settled_and_recent(self, query: YidaQuery, began: datetime) -> list[YidaQuery]:
        """``query`` as two: forms last modified before the scan, and those modified since.

        The settled set can only shrink while it is read (every edit, approval or new form is
        modified now, after its bound), so a ``totalCount`` that stays the same on every page
        proves that nothing left it, and so nothing was skipped. What changed in the last
        minutes, usually one page, is read after it. The two overlap by a second, so a server
        that reads a bound's second either way leaves no gap; copies are merged by id.
        """
        cutoff = (began - self.client.settings.drift_margin).replace(microsecond=0)
        low, high = query.modified_from, query.modified_to
        recent_from = cutoff - timedelta(seconds=1)
        parts = []
        if low is None or low <= cutoff:
            parts.append(replace(query, modified_to=cutoff if high is None else min(high, cutoff)))
        if high is None or high >= recent_from:
            start = recent_from if low is None else max(low, recent_from)
            parts.append(replace(query, modified_from=start))
        return parts

    async def _read_pages(
        self, query: YidaQuery, start: datetime, end: datetime, first: Page, found: InstanceSet
    ) -> _Read:
        """All pages of a query into ``found``; the last one asked for once every other came.

        Each page's forms go to the spool as the page arrives: a window's pages are never held
        at once (the parts of a long window finish together, at its end). New and edited forms
        sort last (ascending modification time), so a last page read after the others shows
        any form that arrived while they were read.
        """
        read = _Read([first.total_count], found.add(first.items), first.items)

        async def fetch(number: int) -> Page:
            page = await self.client.get_instances_page(query, start, end, number)
            read.totals.append(page.total_count)
            read.keys.update(found.add(page.items))
            return page

        last = math.ceil(first.total_count / self.client.settings.page_size)
        await asyncio.gather(*(fetch(number) for number in range(2, last)))
        if last > 1:
            read.last_items = (await fetch(last)).items
        return read

    def _stable(
        self,
        query: YidaQuery,
        read: _Read,
        began: datetime,
        seen: set[tuple[str, int]],
    ) -> bool:
        """Whether a read is proven to hold exactly what matched throughout it.

        A form that leaves the result set (deleted, withdrawn, edited away) shifts every later
        offset back, so one form on a later page can be skipped. Alone, it lowers
        ``totalCount``; masked by a form that arrived at the same time, it leaves the count
        alone, but the arrival is a form modified since the read began on the last page.
        ``seen`` holds (id, version) of recent forms that an earlier read already knew.
        """
        if len(read.totals) == 1:
            return True  # one answer is one consistent view of the index
        total = read.totals[0]
        if any(count != total for count in read.totals) or len(read.keys) != total:
            return False
        return not _recent(read.last_items, self._news_since(query, began)) - seen

    def _news_since(self, query: YidaQuery, began: datetime) -> datetime:
        """Forms modified from this minute on may have arrived while a read of ``query`` ran.

        A query bounded by modification time cannot gain forms (arrivals are modified now);
        one that returns forms beyond its bound has a server ignoring it, and those are news.
        """
        since = began - self.client.settings.drift_margin
        if query.modified_to is not None:
            bound = query.modified_to.replace(second=0, microsecond=0) + timedelta(minutes=1)
            since = max(since, bound)
        return since

    async def _read_part(
        self,
        query: YidaQuery,
        start: datetime,
        end: datetime,
        found: InstanceSet,
        seen: set[tuple[str, int]],
        depth: int = 0,
    ) -> set[str]:
        """Read the instances created in ``[start, end]`` into ``found``; returns their keys.

        A read that cannot be proven stable is read again in smaller parts (shorter reads,
        and one page is always consistent). What the first read returned and the re-read does
        not had left the result set by then: it is dropped from ``found``, by id.
        """
        began = datetime.now(tz=self.client.settings.zone)
        first = await self.client.get_instances_page(query, start, end, 1)
        if first.total_count > self.client.settings.deep_paging_cap:
            parts = math.ceil(first.total_count / (self.client.settings.deep_paging_cap * 0.8))
            return await self._read_split(query, start, end, max(2, parts), found, seen, depth)
        self.client.stats.parts += 1
        read = await self._read_pages(query, start, end, first, found)
        keys = read.keys
        if self._stable(query, read, began, seen):
            return keys
        if depth >= self.client.settings.max_drift_rereads:
            raise RetryableApiError(
                None,
                "resultSetUnstable",
                f"the forms created {start:%Y-%m-%d %H:%M:%S}…{end:%Y-%m-%d %H:%M:%S} kept "
                f"changing over {depth + 1} reads",
                None,
            )
        self.client.stats.drift_repairs += 1
        known = seen | _recent(read.last_items, self._news_since(query, began))
        marker = REPAIRING.set(True)
        try:
            again = await self._read_split(query, start, end, 4, found, known, depth + 1)
        finally:
            REPAIRING.reset(marker)
        departed = keys - again
        found.discard(departed)
        self.client.stats.departed += len(departed)
        return again

    async def _read_split(
        self,
        query: YidaQuery,
        start: datetime,
        end: datetime,
        parts: int,
        found: InstanceSet,
        seen: set[tuple[str, int]],
        depth: int,
    ) -> set[str]:
        """Read ``[start, end]`` as ``parts`` creation-time parts (as one when it is too short)."""
        step = (end - start) / parts
        if step < timedelta(seconds=1):
            if depth == 0:
                raise DingTalkApiError(
                    None,
                    "deepPagingUnsplittable",
                    f"more matches within {end - start} than the deep-paging cap",
                    None,
                )
            return await self._read_part(query, start, end, found, seen, depth)
        if depth == 0:
            self.client.stats.window_splits += 1
        bounds = [start + step * i for i in range(parts)] + [end]
        # Neighbouring parts share their boundary second: the server's rounding of sub-second
        # create times cannot then fall between two parts; duplicates are merged by id.
        reads = await asyncio.gather(
            *(
                self._read_part(query, bounds[i], bounds[i + 1], found, seen, depth)
                for i in range(parts)
            )
        )
        return set().union(*reads)


def _recent(items: Iterable[Any], since: datetime) -> set[tuple[str, int]]:
    """(id, version) of the forms in ``items`` last modified at or after ``since``'s minute."""
    cutoff = since.replace(second=0, microsecond=0).timestamp()
    return {
        (str(item.get("processInstanceId")), instance_version(item))
        for item in items
        if isinstance(item, dict) and gmt_seconds(item.get("modifiedTimeGMT")) >= cutoff
    }


def scan_instances(
    credentials: YidaCredentials,
    query: YidaQuery,
    create_from: datetime,
    create_to: datetime,
    *,
    base_url: str = DEFAULT_BASE_URL,
    settings: ClientSettings | None = None,
    expect_few: bool = False,
    stats: ScanStats | None = None,
) -> ScanResult:
    """Synchronous entry point: one scan of a create-time window with a fresh client.

    ``stats``, when given, counts the calls even if the scan raises.
    """

    async def run() -> ScanResult:
        async with YidaClient(credentials, base_url, settings, stats=stats) as client:
            return await WindowScan(client).scan(
                query, create_from, create_to, expect_few=expect_few
            )

    return asyncio.run(run())
