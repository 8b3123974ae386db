"""The DingTalk Yida ``GetInstances`` client: fetch every process instance matching a query.

One scan of a create-time window costs one token call plus ``ceil(matches / 100)`` list calls
when nothing goes wrong. Pages after the first are fetched concurrently under a client-wide rate
limit; throttles, 5xx answers, time-outs and dropped connections are retried with exponential
backoff and jitter, within a budget that starts when a call first leaves; a rejected token is
refreshed (once for every caller that used it) and the call tried again. Yida pages are offsets
into a live search index, so a scan proves each read stable, and re-reads what moved while it
was reading: forms that left the result set are dropped by id, skipped ones are found again.
"""

from __future__ import annotations

import array
import asyncio
import contextvars
import json
import math
import random
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import tenacity

from dd_refund_pipeline.dingtalk import payload_json
from dd_refund_pipeline.dingtalk.errors import (
    AuthenticationError,
    DingTalkApiError,
    RetryableApiError,
    ServiceUnreachableError,
    ThrottledError,
    TokenRejectedError,
    classify,
    scrub,
)
from dd_refund_pipeline.dingtalk.ratelimit import SlidingWindowRateLimiter
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ, format_request_time, parse_gmt

DEFAULT_BASE_URL = "https://api.dingtalk.com"
TOKEN_PATH = "/v1.0/oauth2/accessToken"
INSTANCES_PATH = "/v1.0/yida/processes/instances"
TOKEN_ENDPOINT = "accessToken"
INSTANCES_ENDPOINT = "instances"
MAX_PAGE_SIZE = 100

T = TypeVar("T")
# Set while a drift repair runs, so that its calls (in concurrent tasks) are counted as repair.
_REPAIRING: contextvars.ContextVar[bool] = contextvars.ContextVar("repairing", default=False)


@dataclass(frozen=True)
class YidaCredentials:
    """Secrets of one DingTalk app and Yida application (never logged, never in errors)."""

    app_key: str
    app_secret: str
    system_token: str

    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in logs, metadata or errors."""
        return (self.app_secret, self.system_token)


@dataclass(frozen=True)
class YidaQuery:
    """What to ask ``GetInstances`` for, apart from the create-time window and paging.

    Field names follow the official SDK's ``GetInstancesRequest``.
    """

    app_type: str
    user_id: str
    form_uuid: str
    language: str = "zh_CN"
    search_fields: Mapping[str, Any] | list[Any] | None = None
    instance_status: str | None = None
    approved_result: str | None = None
    originator_id: str | None = None
    task_id: str | None = None
    modified_from: datetime | None = None
    modified_to: datetime | None = None
    # Ascending modification order: a form approved or filed while pages are read gets the
    # newest modification time and lands after every page, so earlier offsets do not move (in
    # creation order it would push every later page back). ``pid`` breaks ties so that equal
    # times cannot swap places between pages.
    order_config: Mapping[str, str] = field(
        default_factory=lambda: {"gmt_modified": "+", "pid": "+"}
    )

    def body(
        self,
        system_token: str,
        create_from: datetime | None,
        create_to: datetime | None,
        zone: ZoneInfo,
    ) -> dict[str, str]:
        """The JSON body of one request; JSON-valued fields travel as strings, as Yida wants."""
        fields: dict[str, Any] = {
            "appType": self.app_type,
            "systemToken": system_token,
            "userId": self.user_id,
            "language": self.language,
            "formUuid": self.form_uuid,
            "searchFieldJson": _json_or_none(self.search_fields),
            "instanceStatus": self.instance_status,
            "approvedResult": self.approved_result,
            "createFromTimeGMT": _time_or_none(create_from, zone),
            "createToTimeGMT": _time_or_none(create_to, zone),
            "modifiedFromTimeGMT": _time_or_none(self.modified_from, zone),
            "modifiedToTimeGMT": _time_or_none(self.modified_to, zone),
            "originatorId": self.originator_id,
            "orderConfigJson": _json_or_none(self.order_config),
            "taskId": self.task_id,
        }
        return {key: value for key, value in fields.items() if value is not None}


def _json_or_none(value: Mapping[str, Any] | list[Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _time_or_none(value: datetime | None, zone: ZoneInfo) -> str | None:
    return None if value is None else format_request_time(value, zone)


@dataclass(frozen=True)
class Page:
    """One ``GetInstances`` answer."""

    total_count: int
    page_number: int
    items: list[dict[str, Any]]


@dataclass
class ScanStats:
    """What one scan cost; shown per run in the Dagster UI."""

    calls: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    # Why calls were retried: the error's code (``HTTP503``, ``ReadTimeout``…), never a message.
    retry_causes: Counter[str] = field(default_factory=Counter)
    throttles: int = 0
    token_refreshes: int = 0
    pages: int = 0
    records: int = 0
    instances: int = 0
    window_splits: int = 0
    parts: int = 0
    drift_repairs: int = 0
    repair_calls: int = 0
    # Forms read during the scan that had left the result set by its end (deleted, edited away).
    departed: int = 0
    elapsed_s: float = 0.0

    @property
    def api_calls(self) -> int:
        """Calls sent, token and list calls together."""
        return sum(self.calls.values())

    def as_dict(self) -> dict[str, Any]:
        """The counters as plain values (benchmarks and tests compare them)."""
        return {
            "api_calls": self.api_calls,
            "token_calls": self.calls[TOKEN_ENDPOINT],
            "list_calls": self.calls[INSTANCES_ENDPOINT],
            "retries": self.retries,
            "retry_causes": dict(sorted(self.retry_causes.items())),
            "throttles": self.throttles,
            "token_refreshes": self.token_refreshes,
            "pages": self.pages,
            "records": self.records,
            "instances": self.instances,
            "window_splits": self.window_splits,
            "parts": self.parts,
            "drift_repairs": self.drift_repairs,
            "repair_calls": self.repair_calls,
            "departed": self.departed,
            "elapsed_s": round(self.elapsed_s, 3),
        }

    def metadata(self, qps: float) -> dict[str, Any]:
        """What a run shows of its scan: calls by kind, retries by cause, and the floor.

        The floor is one token call plus one list call per 100 instances, at ``qps``: how far
        above it a scan landed says what the faults and the window splitting cost.
        """
        minimum_calls = math.ceil(self.instances / 100) + 1
        floor_s = (minimum_calls - 1) / qps
        return {
            "api_calls": self.api_calls,
            "api_list_calls": self.calls[INSTANCES_ENDPOINT],
            "api_token_calls": self.calls[TOKEN_ENDPOINT],
            "api_pages": self.pages,
            "api_retries": self.retries,
            "api_throttles": self.throttles,
            "api_retry_causes": dict(sorted(self.retry_causes.items())),
            "api_token_refreshes": self.token_refreshes,
            "api_window_splits": self.window_splits,
            "api_window_parts": self.parts,
            "api_drift_repairs": self.drift_repairs,
            "api_repair_calls": self.repair_calls,
            # Forms read during the scan that had left the result set by its end (dropped).
            "api_departed": self.departed,
            "api_seconds": round(self.elapsed_s, 3),
            "api_minimum_calls": minimum_calls,
            "api_calls_over_minimum": round(self.api_calls / minimum_calls, 2),
            "api_seconds_over_floor": round(self.elapsed_s / max(floor_s, 0.001), 2),
        }


@dataclass
class ScanResult:
    """The instances of one scan, one per ``processInstanceId``, and what it cost."""

    instances: InstanceSet
    stats: ScanStats


@dataclass(frozen=True)
class ClientSettings:
    """Tuning of the client; the defaults suit the standard edition's limits."""

    qps: float = 20.0
    max_in_flight: int = 8
    page_size: int = MAX_PAGE_SIZE
    deep_paging_cap: int = 5000
    timeout_s: float = 20.0
    max_attempts: int = 6
    max_retry_wait_s: float = 120.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 16.0
    # A form modified this long before a read began may still be news to it (clock skew).
    drift_margin: timedelta = timedelta(minutes=2)
    # A read that keeps moving is split into parts this many times before the scan gives up.
    max_drift_rereads: int = 6
    # Fresh tokens rejected in a row, with no successful call between: wrong app or rights.
    hopeless_token_refreshes: int = 3
    zone: ZoneInfo = CHINA_TZ


# Payloads of a scan stay in memory up to this size, then move to a temporary file.
SPOOL_IN_MEMORY_BYTES = 32 * 1024 * 1024
_UNKNOWN = math.nan


def _gmt_seconds(value: Any) -> float:
    """A response timestamp as POSIX seconds; NaN when it is missing or unreadable."""
    try:
        return parse_gmt(str(value)).timestamp()
    except ValueError:
        return _UNKNOWN


def _rank(version: int, modified: float) -> tuple[int, float]:
    """Newer edits win: the higher ``version``, then the later ``modifiedTimeGMT``."""
    return version, -math.inf if math.isnan(modified) else modified


def _version(instance: Mapping[str, Any]) -> int:
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
        self._created.append(_gmt_seconds(fields.get("createTimeGMT")))
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
        return _rank(self._version[row], self._modified[row])

    def add(self, items: Iterable[Any]) -> set[str]:
        """Merge ``items``; returns the keys seen (ids, or ``sha1:…`` for records without one)."""
        seen: set[str] = set()
        for item in items:
            key = payload_json.record_key(item)
            if key.startswith("sha1:"):
                anonymous_key = key
                seen.add(anonymous_key)
                if anonymous_key not in self.anonymous:
                    self.anonymous[anonymous_key] = self._append(item, -1, _UNKNOWN)
                continue
            seen.add(key)
            version, modified = _version(item), _gmt_seconds(item.get("modifiedTimeGMT"))
            current = self.by_id.get(key)
            if current is None or _rank(version, modified) > self._rank(current):
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


class AccessTokenCache:
    """One shared access token: reused until shortly before it expires, refreshed once at a time.

    A rejected token is forgotten only while it is still the current one, so that the many
    calls in flight that used it cause one refresh between them, not one each.
    """

    def __init__(
        self, fetch: Callable[[], Awaitable[tuple[str, int]]], hopeless_after: int = 3
    ) -> None:
        self._fetch = fetch
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.hopeless_after = hopeless_after
        self.fetches = 0
        self._fetches_since_success = 0

    @property
    def current(self) -> str | None:
        """The token in hand, if any (no call)."""
        return self._token

    async def get(self) -> str:
        """A valid access token: the one in hand, or one fetched (once for all waiters)."""
        if self._token is not None and time.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            # Another caller may have refreshed while this one waited for the lock.
            if self._token is None or time.monotonic() >= self._expires_at:
                token, expire_in = await self._fetch()
                self.fetches += 1
                self._fetches_since_success += 1
                margin = min(300.0, expire_in * 0.1)
                self._token = token
                self._expires_at = time.monotonic() + max(0.0, expire_in - margin)
            return self._token

    def succeeded(self) -> None:
        """A call was accepted: the tokens are good, whatever happens to them later."""
        self._fetches_since_success = 0

    def rejected(self, token: str | None) -> bool:
        """A call was refused with ``token``; True when refreshing again cannot help.

        Tokens that die after serving calls (revoked, rotated, expired early) are refreshed as
        often as they die. Fresh tokens refused again and again with no call accepted in
        between mean the app or its rights are wrong: then the caller stops.
        """
        if token is not None and self._token == token:
            self._token = None
            self._expires_at = 0.0
        return self._fetches_since_success >= self.hopeless_after


@dataclass
class _Call:
    """One logical API call over all its attempts."""

    # When its first attempt left (after waiting for its rate slot): the retry budget's start.
    first_sent: float | None = None
    # The access token its latest attempt carried.
    token: str | None = None
    # Attempts refused through no fault of the call (a throttle, a token that died): they are
    # bounded by the total wait, not by the attempts.
    waived: int = 0

    def sent(self) -> None:
        if self.first_sent is None:
            self.first_sent = time.monotonic()

    def seconds_since_first_send(self) -> float:
        return 0.0 if self.first_sent is None else time.monotonic() - self.first_sent


@dataclass
class _Read:
    """What one read of a part proves: each page's totalCount, the keys, the last page."""

    totals: list[int]
    keys: set[str]
    last_items: list[Any]


class YidaClient:
    """Async client for the Yida process-instance API (also works against the emulator)."""

    def __init__(
        self,
        credentials: YidaCredentials,
        base_url: str = DEFAULT_BASE_URL,
        settings: ClientSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        stats: ScanStats | None = None,
    ) -> None:
        self.credentials = credentials
        self.settings = settings or ClientSettings()
        if not 1 <= self.settings.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        # The caller's, when given: a scan that fails still spent calls of the monthly quota.
        self.stats = stats if stats is not None else ScanStats()
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(
                self.settings.timeout_s, connect=min(10.0, self.settings.timeout_s)
            ),
            limits=httpx.Limits(max_connections=self.settings.max_in_flight),
            transport=transport,
            headers={"Accept": "application/json"},
        )
        self._limiter = SlidingWindowRateLimiter(self.settings.qps)
        self._in_flight = asyncio.Semaphore(self.settings.max_in_flight)
        self._token_gate = asyncio.Semaphore(1)
        self._tokens = AccessTokenCache(self._fetch_token, self.settings.hopeless_token_refreshes)

    async def __aenter__(self) -> YidaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    # -- one HTTP call, with retries -------------------------------------------------------

    def _secrets(self) -> tuple[str | None, ...]:
        return (*self.credentials.secrets(), self._tokens.current)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        settings = self.settings
        exponential = min(
            settings.backoff_max_s, settings.backoff_initial_s * 2 ** (state.attempt_number - 1)
        )
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, TokenRejectedError):
            return 0.0  # the refresh is the fix; nothing to wait for
        if isinstance(error, ThrottledError):
            # DingTalk's throttle window is one second; waking earlier only burns another call.
            return max(1.0, exponential) + random.uniform(0.0, 0.5)
        return exponential * random.uniform(0.5, 1.0)

    def _stop(self, state: tenacity.RetryCallState, call: _Call) -> bool:
        """Send one call until it succeeds or its retry budget is spent.

        Throttles and dead tokens are waited out (bounded by the total wait); other failures by
        attempts.

        Both bounds count from the call's first send, not from when it was queued: all pages of
        a window are queued at once, and a late page must still get its retries. (Tokens that
        are refused fresh, again and again, stop the call at once: see ``_authorized``.)
        """
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, ThrottledError | TokenRejectedError):
            call.waived += 1
        if call.seconds_since_first_send() >= self.settings.max_retry_wait_s:
            return True
        return state.attempt_number - call.waived >= self.settings.max_attempts

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        self.stats.retries += 1
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        cause = getattr(error, "code", None) or type(error).__name__
        self.stats.retry_causes[str(cause)] += 1
        if isinstance(error, ThrottledError):
            self.stats.throttles += 1
            self._limiter.throttled()

    async def _retrying(self, attempt: Callable[[_Call], Awaitable[T]]) -> T:
        call = _Call()
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type((RetryableApiError, httpx.TransportError)),
            wait=self._wait,
            stop=lambda state: self._stop(state, call),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            async for attempt_state in retrying:
                with attempt_state:
                    return await attempt(call)
        except httpx.ConnectError:
            # Refused or unknown host on every attempt: most likely a wrong address.
            raise ServiceUnreachableError(
                None,
                "ConnectError",
                f"nothing answers at {self._http.base_url} (DINGTALK_BASE_URL) after "
                f"{self.settings.max_attempts} attempts",
                None,
            ) from None
        except httpx.TransportError as exc:
            # Do not chain httpx's exception: its request carries headers with the access token.
            raise RetryableApiError(
                None,
                type(exc).__name__,
                f"no answer from {self._http.base_url} (DINGTALK_BASE_URL) after "
                f"{self.settings.max_attempts} attempts",
                None,
            ) from None
        raise AssertionError("tenacity ends in a return or a raise")  # pragma: no cover

    async def _send(
        self,
        endpoint: str,
        path: str,
        call: _Call,
        *,
        body: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
        authorized: bool = False,
        required: Mapping[str, type | tuple[type, ...]] | None = None,
    ) -> dict[str, Any]:
        # The in-flight slot first, the rate slot last: a rate slot taken while waiting for a
        # connection would let the waiting calls leave together, a burst over the QPS limit.
        # Token calls have a gate of their own: they happen while list calls hold the slots.
        gate = self._in_flight if authorized else self._token_gate
        async with gate:
            headers = None
            if authorized:
                # The token is read when the call is about to leave, not when it was queued, so
                # calls that waited pick up a refreshed token instead of failing with the old one.
                call.token = await self._tokens.get()
                headers = {"x-acs-dingtalk-access-token": call.token}
            await self._limiter.acquire()
            call.sent()
            self.stats.calls[endpoint] += 1
            if _REPAIRING.get():
                self.stats.repair_calls += 1
            response = await self._http.post(path, json=body, params=params, headers=headers)
        payload = self._decode(response)
        wrong = [
            key for key, kind in (required or {}).items() if not isinstance(payload.get(key), kind)
        ]
        if wrong:
            # Valid JSON of another shape is not a glitch a retry would fix: the API changed.
            raise DingTalkApiError(
                response.status_code,
                "UnexpectedResponseShape",
                f"{endpoint} answer lacks {', '.join(wrong)}",
                response.headers.get("x-acs-request-id"),
            )
        self._limiter.succeeded()
        if authorized:
            self._tokens.succeeded()
        return payload

    def _decode(self, response: httpx.Response) -> dict[str, Any]:
        requestid = response.headers.get("x-acs-request-id")
        try:
            # Numbers as Decimal: an amount is read exactly as DingTalk wrote it.
            payload = payload_json.loads(response.content)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            # A cut or garbled body (on 2xx) and a gateway's HTML page (on 5xx) are passing faults;
            # a non-JSON 4xx will say the same again.
            retryable = response.status_code >= 500 or response.is_success
            error = RetryableApiError if retryable else DingTalkApiError
            raise error(
                response.status_code, "InvalidResponse", "body is not a JSON object", requestid
            )
        if response.is_success:
            return payload
        code = str(payload.get("code") or payload.get("Code") or f"HTTP{response.status_code}")
        message = scrub(
            str(payload.get("message") or payload.get("Message") or ""), self._secrets()
        )
        requestid = str(payload.get("requestid") or payload.get("RequestId") or requestid or "")
        raise classify(response.status_code, code, message, requestid or None)

    async def _fetch_token(self) -> tuple[str, int]:
        if self._tokens.fetches:
            self.stats.token_refreshes += 1
        body = {"appKey": self.credentials.app_key, "appSecret": self.credentials.app_secret}
        payload = await self._retrying(
            lambda call: self._send(
                TOKEN_ENDPOINT,
                TOKEN_PATH,
                call,
                body=body,
                required={"accessToken": str, "expireIn": int},
            )
        )
        return str(payload["accessToken"]), int(payload["expireIn"])

    async def _authorized(self, endpoint: str, path: str, **kwargs: Any) -> dict[str, Any]:
        async def attempt(call: _Call) -> dict[str, Any]:
            try:
                return await self._send(endpoint, path, call, authorized=True, **kwargs)
            except AuthenticationError as error:
                if self._tokens.rejected(call.token):
                    raise  # fresh tokens refused again and again: the app itself is wrong
                # Revoked, rotated or expired early: the next attempt carries a fresh token.
                raise TokenRejectedError(
                    error.status, error.code, error.message, error.requestid
                ) from None

        return await self._retrying(attempt)

    # -- GetInstances ------------------------------------------------------------------------

    async def get_instances_page(
        self,
        query: YidaQuery,
        create_from: datetime | None,
        create_to: datetime | None,
        page_number: int,
        page_size: int | None = None,
    ) -> Page:
        """Fetch one page (1-based) of the instances matching ``query`` in the create window."""
        size = page_size or self.settings.page_size
        body = query.body(self.credentials.system_token, create_from, create_to, self.settings.zone)
        payload = await self._authorized(
            INSTANCES_ENDPOINT,
            INSTANCES_PATH,
            body=body,
            params={"pageNumber": page_number, "pageSize": size},
            required={"data": list, "totalCount": int},
        )
        items, total = payload["data"], payload["totalCount"]
        self.stats.pages += 1
        self.stats.records += len(items)
        return Page(total, int(payload.get("pageNumber") or page_number), items)

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
            first = await self.get_instances_page(query, create_from, create_to, 1)
        if first is not None and first.total_count <= len(first.items):
            found.add(first.items)
        else:
            # Settled forms first, then the few changed since: those are the freshest, read last.
            for part in self._settled_and_recent(query, datetime.now(tz=self.settings.zone)):
                await self._read_part(part, create_from, create_to, found, set())
        self.stats.instances = len(found)
        self.stats.elapsed_s = time.monotonic() - started
        return ScanResult(found, self.stats)

    def _settled_and_recent(self, query: YidaQuery, began: datetime) -> list[YidaQuery]:
        """``query`` as two: forms last modified before the scan, and those modified since.

        The settled set can only shrink while it is read (every edit, approval or new form is
        modified now, after its bound), so a ``totalCount`` that stays the same on every page
        proves that nothing left it, and so nothing was skipped. What changed in the last
        minutes, usually one page, is read after it. The two overlap by a second, so a server
        that reads a bound's second either way leaves no gap; copies are merged by id.
        """
        cutoff = (began - self.settings.drift_margin).replace(microsecond=0)
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
            page = await self.get_instances_page(query, start, end, number)
            read.totals.append(page.total_count)
            read.keys.update(found.add(page.items))
            return page

        last = math.ceil(first.total_count / self.settings.page_size)
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
        since = began - self.settings.drift_margin
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
        began = datetime.now(tz=self.settings.zone)
        first = await self.get_instances_page(query, start, end, 1)
        if first.total_count > self.settings.deep_paging_cap:
            parts = math.ceil(first.total_count / (self.settings.deep_paging_cap * 0.8))
            return await self._read_split(query, start, end, max(2, parts), found, seen, depth)
        self.stats.parts += 1
        read = await self._read_pages(query, start, end, first, found)
        keys = read.keys
        if self._stable(query, read, began, seen):
            return keys
        if depth >= self.settings.max_drift_rereads:
            raise RetryableApiError(
                None,
                "resultSetUnstable",
                f"the forms created {start:%Y-%m-%d %H:%M:%S}…{end:%Y-%m-%d %H:%M:%S} kept "
                f"changing over {depth + 1} reads",
                None,
            )
        self.stats.drift_repairs += 1
        known = seen | _recent(read.last_items, self._news_since(query, began))
        marker = _REPAIRING.set(True)
        try:
            again = await self._read_split(query, start, end, 4, found, known, depth + 1)
        finally:
            _REPAIRING.reset(marker)
        departed = keys - again
        found.discard(departed)
        self.stats.departed += len(departed)
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
            self.stats.window_splits += 1
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
        (str(item.get("processInstanceId")), _version(item))
        for item in items
        if isinstance(item, dict) and _gmt_seconds(item.get("modifiedTimeGMT")) >= cutoff
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
            return await client.scan(query, create_from, create_to, expect_few=expect_few)

    return asyncio.run(run())
