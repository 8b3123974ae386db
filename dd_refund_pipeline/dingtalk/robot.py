"""The DingTalk custom group robot: signed markdown messages, under its rate limit.

``POST {base}/robot/send?access_token=…&timestamp=…&sign=…``; DingTalk always answers HTTP 200
with ``{errcode, errmsg}``. A robot takes 20 messages a minute; beyond that it is muted for ten
minutes (``410100``, observed as ``130101``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

THROTTLE_ERRCODES = frozenset({410100, 130101})


def robot_signature(timestamp: str, secret: str) -> str:
    """``base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))``, before URL-encoding."""
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

    @property
    def ok(self) -> bool:
        return self.errcode == 0

    @property
    def throttled(self) -> bool:
        return self.errcode in THROTTLE_ERRCODES
