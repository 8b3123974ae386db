"""A client-side rate limit that matches how DingTalk counts: at most N calls in any second."""

from __future__ import annotations

import asyncio
import collections


class SlidingWindowRateLimiter:
    """Lets at most ``rate`` calls start in any ``window`` seconds, spaced evenly.

    DingTalk throttles per app and API when more than 20 calls land within one second. A plain
    "one call every 1/rate seconds" spacing drifts over the limit as soon as one task wakes late,
    so this keeps the start times of the last ``rate`` calls and waits until the oldest is a full
    window (plus a safety margin for the trip to the server) behind.
    """

    def __init__(self, rate: float, window: float = 1.0, margin: float = 0.05) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.capacity = max(1, int(rate * window))
        self.window = window + margin
        self.spacing = window / rate
        self._starts: collections.deque[float] = collections.deque()
        self._last = float("-inf")
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more call may start."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            while True:
                now = loop.time()
                while self._starts and now - self._starts[0] >= self.window:
                    self._starts.popleft()
                wait = self._last + self.spacing - now
                if len(self._starts) >= self.capacity:
                    wait = max(wait, self._starts[0] + self.window - now)
                if wait <= 0:
                    self._starts.append(now)
                    self._last = now
                    return
                await asyncio.sleep(wait)
