"""Fault and rate-limit knobs: scripted faults, seeded random faults and a token bucket.

Fault kinds (the same strings for :meth:`FaultPlan.inject` and the probability dict):

- an HTTP status as a string, ``"400"``..``"599"`` (``"500"``, ``"502"``, ``"503"``, ``"504"``,
  ``"429"`` …): a JSON ``{"error": ...}`` body; 503 and 429 carry ``Retry-After`` (default 1);
- ``"drop"``: close the connection without any response;
- ``"slow"``: wait ``slow_seconds`` (default 5) and then answer normally;
- ``"html"``: HTTP 502 with a ``text/html`` proxy error page;
- ``"error200"``: HTTP 200 with ``{"error": "something went wrong"}`` (an in-band error,
  docs/api.md#in-band-errors-on-http-200).

Nothing is documented about the Incident API's rate limits (docs/api.md#rate-limits); the bucket and
its 429 answer follow common gateway practice.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NAMED_KINDS = frozenset({"drop", "slow", "html", "error200"})
_STATUS_KIND = re.compile(r"^[45]\d\d$")


def check_kind(kind: str) -> str:
    """Validate a fault kind; raises ValueError naming the accepted kinds."""
    if kind in NAMED_KINDS or _STATUS_KIND.match(kind):
        return kind
    raise ValueError(f"unknown fault kind {kind!r}; use an HTTP status like '503' or one of {sorted(NAMED_KINDS)}")


@dataclass(slots=True)
class ScriptedFault:
    """A fault for the next ``remaining`` matching requests (``None`` = forever)."""

    kind: str
    method: str | None
    incident_id: str | None
    remaining: int | None
    retry_after: int | str | None

    def matches(self, method: str, body: Any) -> bool:
        """Whether a request for ``method`` with decoded ``body`` is targeted by this fault."""
        if self.method is not None and self.method != method:
            return False
        return self.incident_id is None or self.incident_id in _incident_ids(body)


def _incident_ids(body: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(body, dict):
        if isinstance(body.get("incidentID"), str):
            found.add(body["incidentID"])
        query = body.get("query")
        if isinstance(query, dict) and isinstance(query.get("incidentID"), str):
            found.add(query["incidentID"])
    return found


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault chosen for one request."""

    kind: str
    retry_after: int | str | None = None


class FaultPlan:
    """Scripted faults first, then random ones drawn from ``Random(fault_seed)``, all under a lock.

    For a given ``fault_seed`` and sequence of requests the random faults are reproducible: each
    request that reaches the draw consumes exactly one random number.
    """

    def __init__(self, probabilities: Mapping[str, float] | None = None, *, fault_seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._scripted: list[ScriptedFault] = []
        self._rng = random.Random(fault_seed)
        self._table: list[tuple[float, str]] = []
        total = 0.0
        for kind, probability in sorted((probabilities or {}).items()):
            check_kind(kind)
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"fault probability for {kind!r} must be within 0..1, got {probability}")
            total += probability
            self._table.append((total, kind))
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities add up to {total:.3f}, more than 1")

    def inject(
        self,
        kind: str,
        *,
        method: str | None = None,
        incident_id: str | None = None,
        times: int | None = 1,
        retry_after: int | str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``kind`` (``times=None``: forever)."""
        check_kind(kind)
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times}")
        with self._lock:
            self._scripted.append(ScriptedFault(kind, method, incident_id, times, retry_after))

    def clear(self) -> None:
        """Forget all scripted faults (random ones stay configured)."""
        with self._lock:
            self._scripted.clear()

    def scripted(self, method: str, body: Any) -> Fault | None:
        """The first scripted fault matching this request, consuming one of its uses."""
        with self._lock:
            for fault in self._scripted:
                if fault.matches(method, body):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._scripted.remove(fault)
                    return Fault(fault.kind, fault.retry_after)
        return None

    def draw(self) -> Fault | None:
        """A random fault for this request, or None; consumes one draw when probabilities are set."""
        if not self._table:
            return None
        with self._lock:
            roll = self._rng.random()
        for threshold, kind in self._table:
            if roll < threshold:
                return Fault(kind)
        return None


class TokenBucket:
    """``rate`` requests per second with bursts of up to ``burst``; thread-safe."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate_limit needs rate > 0 and burst >= 1, got ({rate}, {burst})")
        self.rate = float(rate)
        self.burst = int(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> int | None:
        """Take a token; None when allowed, else the whole seconds (>= 1) until one is available."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - self._tokens) / self.rate))
