"""One Yida API call, sent well: the token, the QPS limit, and retries within a budget.

A call waits for an in-flight slot, then for its rate slot, then leaves carrying the token in
hand. Throttles, 5xx answers, time-outs and dropped connections are retried with exponential
backoff and jitter, within a budget (attempts, total wait) that starts when the call first
leaves, not when it was queued; a rejected token is refreshed (once for every caller that used
it) and the call tried again. What to read, and how to prove a window was read whole, is
``scan``'s business.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
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
from dd_refund_pipeline.dingtalk.query import (
    DEFAULT_BASE_URL,
    FORM_FIELDS_ENDPOINT,
    FORM_FIELDS_PATH,
    FORMS_ENDPOINT,
    FORMS_PATH,
    INSTANCES_ENDPOINT,
    INSTANCES_PATH,
    MAX_PAGE_SIZE,
    TOKEN_ENDPOINT,
    TOKEN_PATH,
    ClientSettings,
    Page,
    YidaCredentials,
    YidaQuery,
)
from dd_refund_pipeline.dingtalk.ratelimit import SlidingWindowRateLimiter
from dd_refund_pipeline.dingtalk.scan_stats import ScanStats

T = TypeVar("T")
# Set while a drift repair runs, so that its calls (in concurrent tasks) are counted as repair.
REPAIRING: contextvars.ContextVar[bool] = contextvars.ContextVar("repairing", default=False)


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
        body: Mapping[str, Any] | None = None,
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
            if REPAIRING.get():
                self.stats.repair_calls += 1
            # GetInstances and the token are POSTs with a body; the form-metadata reads are GETs.
            method = "GET" if body is None else "POST"
            response = await self._http.request(
                method, path, json=body, params=params, headers=headers
            )
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

    # -- what a form is: GetFormListInApp, GetFieldDefByUuid --------------------------------------

    def _identity(self, app_type: str, user_id: str) -> dict[str, str]:
        return {
            "appType": app_type,
            "systemToken": self.credentials.system_token,
            "userId": user_id,
        }

    async def list_forms(
        self,
        app_type: str,
        user_id: str,
        form_types: str = "process",
        page_size: int = MAX_PAGE_SIZE,
    ) -> list[dict[str, Any]]:
        """Every form of the app of ``form_types`` (``formUuid``, ``title``, ``formType``, …)."""
        forms: list[dict[str, Any]] = []
        page = 1
        while True:
            payload = await self._authorized(
                FORMS_ENDPOINT,
                FORMS_PATH,
                params={
                    **self._identity(app_type, user_id),
                    "formTypes": form_types,
                    "pageNumber": page,
                    "pageSize": page_size,
                },
                required={"result": dict},
            )
            result = payload["result"]
            items = [item for item in result.get("data") or [] if isinstance(item, dict)]
            forms += items
            total = result.get("totalCount")
            if not items or not isinstance(total, int) or len(forms) >= total:
                return forms
            page += 1

    async def form_fields(
        self, app_type: str, user_id: str, form_uuid: str
    ) -> list[dict[str, Any]]:
        """The form's components as its designer configured them (``fieldId``, ``label``, …)."""
        payload = await self._authorized(
            FORM_FIELDS_ENDPOINT,
            FORM_FIELDS_PATH,
            params={**self._identity(app_type, user_id), "formUuid": form_uuid},
            required={"result": list},
        )
        return [item for item in payload["result"] if isinstance(item, dict)]
