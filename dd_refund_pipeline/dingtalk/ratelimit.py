"""A client-side rate limit that matches how DingTalk counts: at most N calls in any second."""

from __future__ import annotations

import asyncio
import collections


class SlidingWindowRateLimiter:
    """Lets at most ``rate`` calls start in any ``window`` seconds, spaced evenly.

    DingTalk throttles per app and API when more than 20 calls land within one second. A plain
    "one call every 1/rate seconds" spacing drifts over the limit as soon as one task wakes late,
    so this keeps the start times of recent calls and waits until the oldest is a full window
    (plus a safety margin for the trip to the server) behind. Calls are also spaced evenly, even
    at the start: a burst of a whole second's allowance reaches a busy server as a queue, which
    counts the burst's last calls late and throttles the next second's first (measured against
    the emulator at 50,000 forms: one throttle per scan and 2 s lost, for 0.2 s gained).

    The rate adapts: a throttle answer means the real limit is lower than configured (another
    process shares the app's quota, or the edition allows less), so the rate drops by a third;
    every ``recover_after`` calls without one it climbs back by one call per second, never above
    the configured rate.
    """

    def __init__(
        self, rate: float, window: float = 1.0, margin: float = 0.05, recover_after: int = 20
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.ceiling = rate
        self.rate = rate
        self.window_s = window
        self.margin = margin
        self.recover_after = recover_after
        self._calm = 0
        self._starts: collections.deque[float] = collections.deque()
        self._last = float("-inf")
        self._lock = asyncio.Lock()

    @property
    def capacity(self) -> int:
        """Calls allowed in flight now."""
        return max(1, int(self.rate * self.window_s))

    @property
    def spacing(self) -> float:
        """Seconds between call starts at the current rate."""
        return 1.0 / self.rate

    def throttled(self) -> None:
        """The server said too fast: slow down for the rest of the scan, then recover."""
        self.rate = max(1.0, self.rate * 2 / 3)
        self._calm = 0

    def succeeded(self) -> None:
        """A call got through: creep back towards the full rate."""
        self._calm += 1
        if self._calm >= self.recover_after and self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + 1.0)
            self._calm = 0

    async def acquire(self) -> None:
        """Wait until one more call may start."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            while True:
                now = loop.time()
                window = self.window_s + self.margin
                while self._starts and now - self._starts[0] >= window:
                    self._starts.popleft()
                wait = self._last + self.spacing - now
                if len(self._starts) >= self.capacity:
                    wait = max(wait, self._starts[-self.capacity] + window - now)
                if wait <= 0:
                    self._starts.append(now)
                    self._last = now
                    return
                await asyncio.sleep(wait)
