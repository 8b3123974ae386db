"""The DingTalk custom group robot: signed markdown messages, under its rate limit.

``POST {base}/robot/send?access_token=…&timestamp=…&sign=…``; DingTalk always answers HTTP 200
with ``{errcode, errmsg}``. A robot takes 20 messages a minute; beyond that it is muted for ten
minutes (``410100``, observed as ``130101``).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import httpx

from dd_refund_pipeline.dingtalk import errors as _errors  # noqa: F401  (redacts httpx logs)

THROTTLE_ERRCODES = frozenset({410100, 130101})
# Sent by the Yida emulator's robot, never by DingTalk: the sender can tell the team that the
# message went to the emulator (make dev), not to a group.
EMULATED_ROBOT_HEADER = "X-Yida-Emulator"


def robot_signature(timestamp: str, secret: str) -> str:
    r"""``base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\n{secret}"))``, before URL-encoding."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_params(
    access_token: str, secret: str | None, now: float | None = None
) -> dict[str, str]:
    """Query parameters of one send: the token, and ``timestamp``/``sign`` when signing is on."""
    params = {"access_token": access_token}
    if secret:
        timestamp = str(int((time.time() if now is None else now) * 1000))
        params.update(timestamp=timestamp, sign=robot_signature(timestamp, secret))
    return params


@dataclass(frozen=True)
class RobotReply:
    """DingTalk's answer to one message."""

    errcode: int
    errmsg: str
    # Answered by the Yida emulator's robot (make dev), which keeps messages instead of posting
    # them to a group.
    emulated: bool = False

    @property
    def ok(self) -> bool:
        """True when DingTalk accepted the message (``errcode`` 0)."""
        return self.errcode == 0

    @property
    def throttled(self) -> bool:
        """True when the robot's 20-per-minute limit refused the message."""
        return self.errcode in THROTTLE_ERRCODES


class RobotSender:
    """Sends markdown to one robot without breaking its limits or its caller.

    At most ``per_minute`` messages in any minute (DingTalk's limit is 20); after a throttle answer
    the robot is left alone for ``mute_s`` seconds, as DingTalk mutes it for ten minutes anyway.
    The window and the mute are shared by every sender of the same robot in this process, because
    Dagster builds a new resource for every sensor evaluation.
    """

    _windows: ClassVar[dict[str, collections.deque[float]]] = {}
    _muted_until: ClassVar[dict[str, float]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        base_url: str,
        access_token: str,
        secret: str | None,
        *,
        per_minute: int = 20,
        mute_s: float = 600.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.access_token = access_token
        self.secret = secret
        self.per_minute = per_minute
        self.mute_s = mute_s
        self.timeout_s = timeout_s
        self._robot = hashlib.sha256(f"{self.base_url}|{access_token}".encode()).hexdigest()

    def _admit(self) -> str | None:
        """None when a message may go now, else why not."""
        now = time.monotonic()
        with self._lock:
            if now < self._muted_until.get(self._robot, 0.0):
                return "robot muted after a throttle answer"
            window = self._windows.setdefault(self._robot, collections.deque())
            while window and now - window[0] >= 60:
                window.popleft()
            if len(window) >= self.per_minute:
                return f"{self.per_minute} messages in the last minute"
            window.append(now)
            return None

    def send_markdown(self, title: str, text: str) -> RobotReply:
        """Send one markdown message; never raises, the reply says what happened."""
        refused = self._admit()
        if refused:
            return RobotReply(-2, f"not sent: {refused}")
        message = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        try:
            response = httpx.post(
                f"{self.base_url}/robot/send",
                params=signed_params(self.access_token, self.secret),
                json=message,
                timeout=self.timeout_s,
            )
            body = response.json()
            reply = RobotReply(
                int(body.get("errcode", -1)),
                str(body.get("errmsg", "")),
                emulated=EMULATED_ROBOT_HEADER in response.headers,
            )
        except (httpx.HTTPError, ValueError) as exc:
            # httpx errors name the URL, and the URL carries the token: keep only the kind.
            return RobotReply(-1, f"not sent: {type(exc).__name__}")
        if reply.throttled:
            with self._lock:
                self._muted_until[self._robot] = time.monotonic() + self.mute_s
        return reply
