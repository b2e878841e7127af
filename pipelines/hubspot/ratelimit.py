"""A client-side request budget, so a sync uses the account's limit without tripping it.

HubSpot counts requests in a rolling window (100-250 per 10 s per app, search about 5 per
second per account). Sending only while fewer than `max_requests` were sent in the last
`period_s` keeps us under the limit. The budget follows the limit each answer reports (a Pro
portal's 190 grows it, another app spending the same budget shrinks it), never above a ceiling the
user set; a 429 pauses everyone.
"""

import threading
import time
from collections import deque

# A request counts when it reaches HubSpot, not when we send it: leave slack for latency jitter.
WINDOW_SLACK = 1.03
WINDOW_SLACK_S = 0.1


class RateLimiter:
    """A rolling-window budget shared by every thread that sends requests.

    Args:
        max_requests: requests allowed per window to begin with; None for no limit.
        period_s: the window's length in seconds.
        ceiling: what the budget may never exceed, whatever the server reports; None follows
            the server's maximum up as well as down.
    """

    def __init__(
        self, max_requests: int | None, period_s: float, ceiling: int | None = None
    ) -> None:
        self.max_requests = max_requests
        self.ceiling = ceiling
        self.period_s = period_s * WINDOW_SLACK + WINDOW_SLACK_S
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until one more request fits in the budget, then count it."""
        if self.max_requests is None:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                while self._sent and self._sent[0] <= now - self.period_s:
                    self._sent.popleft()
                wait = self._paused_until - now
                if wait <= 0 and len(self._sent) < self.max_requests:
                    self._sent.append(now)
                    return
                if wait <= 0:
                    wait = self._sent[0] + self.period_s - now
            time.sleep(wait)

    def observe(self, headers: dict[str, str]) -> None:
        """Take in the server's view of the window (X-HubSpot-RateLimit-* headers)."""
        if self.max_requests is None:
            return
        try:
            remaining = int(headers["X-HubSpot-RateLimit-Remaining"])
            maximum = int(headers["X-HubSpot-RateLimit-Max"])
        except (KeyError, ValueError):
            return
        with self._lock:
            self.max_requests = maximum if self.ceiling is None else min(self.ceiling, maximum)
            # Someone else spent part of the budget: count their requests as ours.
            now = time.monotonic()
            unseen = (self.max_requests - len(self._sent)) - remaining
            self._sent.extend([now] * max(0, min(unseen, self.max_requests)))

    def pause(self, seconds: float) -> None:
        """Hold every sender back after a 429."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
