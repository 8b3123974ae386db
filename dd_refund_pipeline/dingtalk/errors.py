"""Typed errors raised by the DingTalk clients.

Every error carries what an operator needs to ask DingTalk support about a call (HTTP status,
``code``, ``message``, ``requestid``) and never a token, appSecret or systemToken: messages are
built only from the response and are scrubbed of every secret the client knows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

THROTTLE_CODES = frozenset(
    {
        "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
        "Forbidden.AccessDenied.QpsLimitForApi",
        "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi",
        "Forbidden.AccessDenied.QpmLimitForApi",
        "failure.operation.requestTooFast",
        "failure.operation.operatingFrequencyTooFast",
        "failure.operation.tooManyVisitors",
        "system.busy",
        "systemBusy",
        "invalidState.openSearch.currentFormIsRebuilding",
    }
)
AUTH_CODES = frozenset({"InvalidAuthentication"})
_NON_RETRYABLE_PREFIXES = (
    "invalidParameter",
    "noPermission",
    "applicationNotExist",
    "invalidState.form",
    "invalidState.account",
    "failure.user",
    "Forbidden.AccessDenied.AccessTokenPermissionDenied",
    "Forbidden.AccessDenied.ApiCountLimitForOrg",
)


class DingTalkError(Exception):
    """Base class of everything the DingTalk clients raise."""


class DingTalkApiError(DingTalkError):
    """An API call that DingTalk answered with an error (or an unusable body)."""

    def __init__(self, status: int | None, code: str, message: str, requestid: str | None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.requestid = requestid
        super().__init__(
            f"DingTalk API error: HTTP {status}, code={code}, message={message}, "
            f"requestid={requestid}"
        )


class RetryableApiError(DingTalkApiError):
    """A failure that can succeed on a later attempt (5xx, bad body, dropped connection)."""


class ThrottledError(RetryableApiError):
    """DingTalk refused the call for going too fast; wait at least a second before retrying."""


class AuthenticationError(DingTalkApiError):
    """The access token was rejected (expired or invalidated)."""


class TokenRejectedError(AuthenticationError, RetryableApiError):
    """A token that had worked was rejected: refreshed, and the call tried again at once."""


class ServiceUnreachableError(DingTalkApiError):
    """Nothing answered at the configured address (connection refused, unknown host)."""


class DeepPagingError(DingTalkApiError):
    """A query reached beyond the server's deep-paging cap."""


QUOTA_EXHAUSTED_CODE = "Forbidden.AccessDenied.ApiCountLimitForOrg"


class QuotaExhaustedError(DingTalkApiError):
    """The organisation's monthly API call quota is used up: no call succeeds until it resets."""

    def __str__(self) -> str:
        return (
            f"DingTalk refused the call because the organisation's monthly API call quota is used "
            f"up ({self.code}, requestid={self.requestid}). Every integration of the organisation "
            f"shares this quota (5,000 calls a month on the standard edition) and is refused "
            f"until it resets on the 1st of next month, China time. Retrying now only fails "
            f"again. What to do: ask the DingTalk administrator which integrations used the "
            f"quota (开发者后台 → 应用调用统计) and whether to buy more calls (专业版 or "
            f"企业应用开发增购包); after the reset, materialize the days this run missed. "
            f"This pipeline's own count is in the api_quota_headroom check."
        )


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every known secret value in ``text`` with ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def classify(status: int, code: str, message: str, requestid: str | None) -> DingTalkApiError:
    """Map an error response to the error type that says what the caller should do."""
    if code in THROTTLE_CODES or status == 429:
        return ThrottledError(status, code, message, requestid)
    if code in AUTH_CODES:
        return AuthenticationError(status, code, message, requestid)
    if code == QUOTA_EXHAUSTED_CODE:
        return QuotaExhaustedError(status, code, message, requestid)
    if code.startswith("invalidState.openSearch.cursorExceed") or code == (
        "failure.operation.numberOfQueryDataExceed"
    ):
        return DeepPagingError(status, code, message, requestid)
    # Yida lists some business errors under HTTP 500 too; retrying those cannot help.
    if status >= 500 and not code.startswith(_NON_RETRYABLE_PREFIXES):
        return RetryableApiError(status, code, message, requestid)
    return DingTalkApiError(status, code, message, requestid)


_URL_SECRETS = re.compile(r"((?:access_token|sign|systemToken)=)[^&\s\"']+")


class RedactUrlSecrets(logging.Filter):
    """Secrets out of the request lines httpx logs at INFO.

    The robot's token and signature, and a form-metadata GET's systemToken, are in the query.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the access token, signature and systemToken from a logged request line."""
        message = record.getMessage()
        redacted = _URL_SECRETS.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


logging.getLogger("httpx").addFilter(RedactUrlSecrets())
