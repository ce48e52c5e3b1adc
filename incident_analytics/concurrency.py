"""How many calls a fetch keeps in flight, adapted to the server as it answers, and what it did.

`AdaptiveLimit` is an additive-increase / multiplicative-decrease (AIMD) gate, the rule TCP uses for
its congestion window: it starts at the caller's ``concurrency``, adds one slot after each round of
fast answers (as many answers as there are slots), and halves on a 429 or 503, on a network error,
or when the answers slow to twice their usual time (the server, or this machine, is saturated),
at most once per round. It never goes above ``maximum`` or below one.

`FetchStats` is what a fetch did (requests, retries, 429s, peak concurrency, time per phase); a
`StatsRecorder` collects it from the client's attempt events (``IncidentClient.add_listener``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .transport import AttemptEvent

logger = logging.getLogger("incident_analytics")

SLOW_FACTOR = 2.0
"""Answers this many times slower than the usual (smoothed) time count as a latency jump."""
_SMOOTHING = 0.2  # weight of the newest answer in the moving average of answer times


class AdaptiveLimit:
    """A gate admitting at most ``limit`` jobs at a time, the limit adapted by AIMD.

    >>> gate = AdaptiveLimit(start=8, maximum=32)
    >>> with gate.slot():  # doctest: +SKIP
    ...     client.incidents.get("42")
    """

    def __init__(self, start: int, maximum: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if not 1 <= start <= maximum:
            raise ValueError(f"the start ({start}) must be between 1 and the maximum ({maximum})")
        self.limit = start
        self.maximum = maximum
        self.active = 0
        self.peak = 0
        self.increases = 0
        self.decreases = 0
        self._clock = clock
        self._cond = threading.Condition()
        self._fast = 0  # fast answers since the limit last changed
        self._since_decrease = start  # answers since the last decrease (one round must pass)
        self._usual: float | None = None  # the lowest smoothed answer time seen: the unloaded speed
        self._smoothed: float | None = None

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the ``limit`` slots for the body of the ``with``."""
        with self._cond:
            while self.active >= self.limit:
                self._cond.wait()
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            yield
        finally:
            with self._cond:
                self.active -= 1
                self._cond.notify()

    def observe(self, event: AttemptEvent) -> None:
        """Adapt the limit to one attempt's outcome (a listener for ``IncidentClient.add_listener``)."""
        with self._cond:
            self._since_decrease += 1
            if event.status in (429, 503) or event.status is None:
                self._decrease(f"status {event.status or 'network error'}")
                return
            smoothed = (
                event.seconds
                if self._smoothed is None
                else (1 - _SMOOTHING) * self._smoothed + _SMOOTHING * event.seconds
            )
            self._smoothed = smoothed
            self._usual = smoothed if self._usual is None else min(self._usual, smoothed)
            if smoothed > SLOW_FACTOR * self._usual:
                self._decrease(f"answers slowed to {smoothed * 1000:.0f} ms from {self._usual * 1000:.0f} ms")
                return
            self._fast += 1
            if self._fast >= self.limit and self.limit < self.maximum:
                self.limit += 1
                self.increases += 1
                self._fast = 0
                self._cond.notify()

    def _decrease(self, why: str) -> None:
        # One halving per round: the answers already in flight when it happened carry the same news.
        if self._since_decrease < self.limit:
            return
        self.limit = max(1, self.limit // 2)
        self.decreases += 1
        self._fast = 0
        self._since_decrease = 0
        if self._smoothed is not None and self._usual is not None:
            # Start the next round from the usual speed, not from the congested one.
            self._smoothed = self._usual
        logger.info("concurrency halved to %d: %s", self.limit, why)


@dataclass
class FetchStats:
    """What one fetch or sync did.

    Attributes:
        requests: HTTP attempts sent (retries included).
        retries: attempts that were retried.
        rate_limited: attempts answered 429.
        unavailable: attempts answered 503.
        network_errors: attempts that failed without an answer.
        concurrency: the configured starting concurrency; ``max_concurrency`` its ceiling.
        peak_concurrency: the most calls in flight at once.
        final_concurrency: the adapted limit at the end.
        increases, decreases: how often the limit went up by one, or was halved.
        seconds: wall time per phase (``listing``, ``details``, ``activity``, ``frames``, ``total``).
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    unavailable: int = 0
    network_errors: int = 0
    concurrency: int = 0
    max_concurrency: int = 0
    peak_concurrency: int = 0
    final_concurrency: int = 0
    increases: int = 0
    decreases: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def add_gate(self, gate: AdaptiveLimit) -> None:
        """Fold in what one gate did (a sync runs two)."""
        self.peak_concurrency = max(self.peak_concurrency, gate.peak)
        self.final_concurrency = gate.limit
        self.increases += gate.increases
        self.decreases += gate.decreases

    def requests_per_second(self) -> float:
        """Requests over the total wall time (0 before it is known)."""
        total = self.seconds.get("total", 0.0)
        return self.requests / total if total > 0 else 0.0


class StatsRecorder:
    """Counts attempt events into a `FetchStats` (thread-safe; a client listener)."""

    def __init__(self, stats: FetchStats) -> None:
        self.stats = stats
        self._lock = threading.Lock()

    def __call__(self, event: AttemptEvent) -> None:
        with self._lock:
            stats = self.stats
            stats.requests += 1
            stats.retries += event.retried
            stats.rate_limited += event.status == 429
            stats.unavailable += event.status == 503
            stats.network_errors += event.status is None


__all__ = ["AdaptiveLimit", "FetchStats", "StatsRecorder"]
