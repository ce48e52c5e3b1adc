"""Pacing for a client that was not told the server's rate limit: learn it from the server's 429s.

The Incident API publishes no rate limit (docs/api.md#rate-limits) and ``Retry-After`` is in whole seconds, so
every 429 holds the whole pool back for at least a second. A client that only backs off its
concurrency keeps meeting the limit: measured at 2,000 incidents against a 200 requests/s server,
8.3% of requests were answered 429 and the fetch ran at 24% of the allowed rate. Once a 429 arrives,
:class:`LearnedRate` paces the client at a little under the rate the server was accepting just
before it, and lowers that pace again if another 429 comes after the pause.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

__all__ = ["LearnedRate", "RateLimiter"]

logger = logging.getLogger("incident_analytics")


class RateLimiter:
    """A token bucket: at most ``rate`` requests per second on average, bursts up to ``burst``.

    Thread-safe. ``waits()`` gives the sleeps before a request may go, so the sync and async
    transports can each sleep in their own way; a sender that woke too late for its slot books
    another (``missed``).
    """

    def __init__(self, rate: float, burst: int = 1, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"rate limit must be > 0 requests per second, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.burst = burst
        self.rate = rate
        self.tolerance = max(_LATE_SLOTS / rate, _LATE_FLOOR_S)
        """How late a sender may be for its slot and still use it (seconds)."""
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def reserve_slot(self) -> float:
        """Take one token; return the clock moment from which it may be used (now when one is free)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            return now if self._tokens >= 0 else now - self._tokens / self.rate

    def set_rate(self, rate: float) -> None:
        """Change the rate from now on (slots already booked keep their moments)."""
        if rate != self.rate:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                self.rate = rate
                self.tolerance = max(_LATE_SLOTS / rate, _LATE_FLOOR_S)

    def waits(self) -> Iterator[float]:
        """The sleeps before the next request may go: one per slot booked (see :meth:`missed`).

        Both transports share it: ``for wait in limiter.waits(): time.sleep(wait)`` (or ``await``).
        """
        for _ in range(REBOOKINGS + 1):
            slot = self.reserve_slot()
            wait = slot - self._clock()
            yield max(wait, 0.0)
            if not self.missed(slot):
                return
            logger.debug("woke %.3fs after the rate-limit slot: booking another", self._clock() - slot)

    def missed(self, slot: float) -> bool:
        """Whether ``slot`` passed more than :attr:`tolerance` ago.

        Slots are booked ahead, one per sender. When the process stalls (the GIL held while frames
        are built, a busy CPU), every sender whose slot passed meanwhile wakes at once: measured on
        the benchmark, 34 requests reached a 200/s server within 100 ms, its burst of 20 answered
        429, and the ``Retry-After: 1`` that followed held back the whole pool. A sender that missed
        its slot books a new one instead, so the requests leave spaced out again.
        """
        return self._clock() - slot > self.tolerance


_LATE_SLOTS = 4
"""A sender may be up to this many slots late and still send (4 x 5 ms at 200 requests/s)."""
_LATE_FLOOR_S = 0.010
"""…and at least this late: ordinary scheduling jitter is a few milliseconds."""
REBOOKINGS = 3
"""How many times a sender that keeps waking late books again before it sends regardless."""

SAFETY = 0.9
"""The share of the accepted rate to pace at: what the server accepted includes its burst."""
WINDOWS_S = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Accepted answers are counted over the shortest of these windows before a 429 that holds at least
:data:`ENOUGH_ANSWERS` (the rate just before the refusal, not the slower start of a fetch)."""
ENOUGH_ANSWERS = 20
MIN_WINDOW_S = 0.25
"""Answers seen over a shorter time are counted as if spread over this long."""
FLOOR = 0.8
"""Later 429s never take the pace below this share of the first rate learned. Paced, the client is
accepted at its own pace, so each 429 would otherwise lower it by 10% for good: a server that also
answers 429 for reasons of its own (the emulator's random faults, someone else's load) would slow
it to a crawl (a 2,000-change bulk run with 2.5% random 429s went from 2 minutes to over 10; with
a floor of half the first rate it still took twice as long)."""
GROWTH_PER_S = 0.005
"""While no 429 comes, the pace rises by this share of the learned rate per second, so a rate learned
too low (during the slow start of a fetch) recovers, and a server that grants more is used."""
FORGET_AFTER_S = 60.0
"""A learned pace is dropped after this long without a 429 (the limit may have been someone else's load)."""


class LearnedRate:
    """The rate limit learned from 429s; ``limiter`` is None until the first one (thread-safe).

    ```python
    learned = LearnedRate()
    learned.answered()                 # after each accepted answer
    learned.refused(resume_at=t + 1)   # on a 429 whose Retry-After holds the pool until t + 1
    learned.limiter                    # a RateLimiter at 90% of the accepted rate, or None
    ```
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: deque[float] = deque()
        self._since: float | None = None  # when the current observation began (first answer, or a pause's end)
        self._paused_until = float("-inf")
        self._last_refusal = float("-inf")
        self._limiter: RateLimiter | None = None
        self._learned = 0.0  # the rate set at the last refusal
        self._first: float | None = None  # the first rate learned

    @property
    def limiter(self) -> RateLimiter | None:
        """The pace to keep, or None (nothing learned, or forgotten after a quiet minute)."""
        limiter = self._limiter
        if limiter is None:
            return None
        quiet = self._clock() - self._last_refusal
        if quiet > FORGET_AFTER_S:
            with self._lock:
                self._limiter = None
                self._since = None
                self._first = None
            return None
        limiter.set_rate(self._learned * (1.0 + GROWTH_PER_S * quiet))
        return limiter

    @property
    def rate(self) -> float | None:
        """The learned requests per second, or None."""
        limiter = self.limiter
        return None if limiter is None else limiter.rate

    def answered(self) -> None:
        """Count an answer the server accepted (anything but a 429)."""
        now = self._clock()
        answers = self._answers
        answers.append(now)
        if self._since is None:
            with self._lock:
                if self._since is None:
                    self._since = now
        horizon = now - WINDOWS_S[-1]
        while answers and answers[0] < horizon:
            try:
                answers.popleft()
            except IndexError:  # another thread emptied it first
                break

    def refused(self, *, resume_at: float) -> float | None:
        """A 429 holds every sender back until ``resume_at``: learn from it once per pause; the new rate."""
        now = self._clock()
        with self._lock:
            self._last_refusal = now
            if now < self._paused_until:  # sent before the pause began: the lesson is already learned
                return None
            self._paused_until = resume_at
            since = self._since if self._since is not None else now
            self._since = resume_at  # the next observation starts once this pause is over
            answers = tuple(self._answers)
            for window in WINDOWS_S:
                start = max(now - window, since)
                accepted = sum(1 for at in answers if at >= start)
                if accepted >= ENOUGH_ANSWERS or start == since:
                    break
            current = self._limiter.rate if self._limiter is not None else None
            if accepted > 0:
                # Refused right after a start or a pause, all the senders went at once: count their
                # answers as if spread over MIN_WINDOW_S rather than learn an absurd rate.
                rate = SAFETY * accepted / max(now - start, MIN_WINDOW_S)
                if current is not None:
                    rate = min(rate, SAFETY * current)
            elif current is not None:
                rate = SAFETY * current
            else:
                return None  # refused before any answer: only the pause applies
            if self._first is None:
                self._first = rate
            rate = max(rate, FLOOR * self._first)
            self._learned = rate
            self._limiter = RateLimiter(rate)
            return rate
