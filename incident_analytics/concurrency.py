"""How many calls a fetch keeps in flight, adapted to the server as it answers, and what it did.

`AdaptiveLimit` is an additive-increase / multiplicative-decrease (AIMD) gate, the rule TCP uses for
its congestion window: it starts at the caller's ``concurrency``, adds one slot after each round of
fast answers (as many answers as there are slots), and halves on a 429 or 503, on a network error,
or when a round's answers take twice their usual time (the server, or this machine, is
saturated), at most once per round. It never goes above ``maximum`` or below one.

`FetchStats` is what a fetch did (requests, retries, 429s, peak concurrency, time per phase); a
`StatsRecorder` collects it from the client's attempt events (``IncidentClient.add_listener``).
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from .transport import AttemptEvent

logger = logging.getLogger("incident_analytics")

SLOW_FACTOR = 2.0
"""A round whose median answer time is this many times the usual one counts as a latency jump."""
_DRIFT = 1.05  # the usual answer time may creep up this much per round (a server whose speed changes)
SLOW_MARGIN = 0.010
"""...and at least this many seconds slower: on loopback a millisecond of jitter is not a slowdown."""


class AdaptiveLimit:
    """A gate admitting at most ``limit`` jobs at a time, the limit adapted by AIMD.

    A round is as many answers as there are slots. At the end of a round its median answer time is
    compared with the usual one (the fastest round seen, allowed to drift up slowly): twice as slow
    (and 10 ms slower) halves the limit, but not below ``start``, the concurrency the caller chose;
    otherwise it grows by one. A 429, a 503 or a network error halves it at once, down to one, at
    most once per round (the answers already in flight carry the same news).

    >>> gate = AdaptiveLimit(start=8, maximum=32)
    >>> with gate.slot():  # doctest: +SKIP
    ...     client.incidents.get("42")
    >>> client.add_listener(gate.observe)  # doctest: +SKIP
    """

    def __init__(self, start: int, maximum: int) -> None:
        if not 1 <= start <= maximum:
            raise ValueError(f"the start ({start}) must be between 1 and the maximum ({maximum})")
        self.start = start
        self.limit = start
        self.maximum = maximum
        self.active = 0
        self.peak = 0
        self.increases = 0
        self.decreases = 0
        self._cond = threading.Condition()
        self._round: list[float] = []  # answer times of the round under way
        self._since_decrease = start  # answers since the last halving
        self._usual: float | None = None

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
            if event.status is None or event.status in (429, 503):
                self._decrease(f"status {event.status or 'network error'}")
                return
            self._round.append(event.seconds)
            if len(self._round) < self.limit:
                return
            median = statistics.median(self._round)
            self._round.clear()
            usual = median if self._usual is None else min(median, self._usual * _DRIFT)
            self._usual = usual
            if median > SLOW_FACTOR * usual and median - usual > SLOW_MARGIN:
                slowed = f"answers slowed to {median * 1000:.0f} ms from {usual * 1000:.0f} ms"
                self._decrease(slowed, floor=self.start)
            elif self.limit < self.maximum:
                self.limit += 1
                self.increases += 1
                self._cond.notify()

    def _decrease(self, why: str, floor: int = 1) -> None:
        if self._since_decrease < self.limit or self.limit <= floor:
            return
        self.limit = max(floor, self.limit // 2)
        self.decreases += 1
        self._since_decrease = 0
        self._round.clear()
        logger.debug("concurrency halved to %d: %s", self.limit, why)


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
    started: float = field(default_factory=time.monotonic, repr=False, compare=False)
    """When the run began (``time.monotonic``): phases are timed from here unless told otherwise."""

    def listen(self, requester: IncidentClientLike) -> Callable[[], None]:
        """Count every attempt of ``requester`` (an ``IncidentClient``) into these stats; returns the remover."""
        return requester.add_listener(StatsRecorder(self))

    def mark(self, phase: str, since: float | None = None) -> None:
        """Record the seconds of ``phase``: from ``since`` (a ``time.monotonic`` value) or the start, to now."""
        self.seconds[phase] = round(time.monotonic() - (self.started if since is None else since), 3)

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


class IncidentClientLike(Protocol):
    """Anything that tells attempt listeners (``IncidentClient``, ``SyncRequester``)."""

    def add_listener(self, listener: Callable[[AttemptEvent], None]) -> Callable[[], None]: ...


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
