"""Wire time handling: integer nanoseconds inside, RFC 3339 strings on the wire.

Every time in the emulator's model is an ``int`` of nanoseconds since the Unix epoch, or ``None``
for "unset". The precision a value carries is decided when it is stored (truncated to seconds,
microseconds or left at nanoseconds), and :func:`format_time` prints it the way Go's
``time.RFC3339Nano`` does: trailing fractional zeros dropped, no fraction at all for whole
seconds. That reproduces the mix seen live (docs/api.md#time-formats): ``…02.688373Z``, ``…18.515762775Z``,
``…27.17626Z`` and ``…02Z``; unset is ``""``, never null.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime

NS_PER_SECOND = 1_000_000_000
NS_PER_US = 1_000

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")


def format_time(ns: int | None) -> str:
    """Format nanoseconds since the epoch as RFC 3339 UTC like Go's RFC3339Nano; ``None`` gives ``""``."""
    if ns is None:
        return ""
    seconds, frac = divmod(ns, NS_PER_SECOND)
    tm = time.gmtime(seconds)
    text = f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}T{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def parse_time(text: str) -> int:
    """Parse an RFC 3339 timestamp (any fraction up to 9 digits, ``Z`` or an offset) to nanoseconds.

    Raises:
        ValueError: the text is not RFC 3339 (the message quotes it).
    """
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid time: {exc}") from None
    fraction = match.group(7) or ""
    ns = int(moment.timestamp()) * NS_PER_SECOND + (int(fraction.ljust(9, "0")) if fraction else 0)
    zone = match.group(8)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        offset_minutes = int(zone[1:3]) * 60 + int(zone[4:6])
        ns -= sign * offset_minutes * 60 * NS_PER_SECOND
    return ns


def to_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * NS_PER_US


def to_datetime(ns: int) -> datetime:
    """An aware UTC datetime of nanoseconds since the epoch (microsecond precision)."""
    seconds, frac = divmod(ns, NS_PER_SECOND)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=frac // NS_PER_US)


def truncate_seconds(ns: int) -> int:
    """Drop the fraction: the whole-second precision the service uses for ``incidentStart``."""
    return ns - ns % NS_PER_SECOND


def truncate_us(ns: int) -> int:
    """Drop below microseconds: the precision of ``createdTime``/``modifiedTime`` (Postgres)."""
    return ns - ns % NS_PER_US


class WriteClock:
    """The clock used for writes: nanoseconds, strictly increasing at microsecond precision.

    Two writes in the same microsecond still get distinct, ordered ``modifiedTime`` values, so a
    client can rely on ``modifiedTime`` to order changes. The clock never runs behind ``floor_ns``
    (the seeded data's anchor), so a write is always newer than any seeded time.

    With ``step_ns`` the clock is fixed instead of the wall clock: it starts at ``floor_ns`` and
    each write moves it ``step_ns`` on, so a scripted session (recording cassettes) gives the same
    times on every run.
    """

    def __init__(self, floor_ns: int = 0, *, step_ns: int | None = None) -> None:
        self._last = floor_ns
        self._step = step_ns
        self._lock = threading.Lock()

    @property
    def fixed(self) -> bool:
        """Whether the clock ignores the wall clock (moves only on writes)."""
        return self._step is not None

    def now(self) -> int:
        """The current time in nanoseconds, at least one microsecond after the previous call."""
        with self._lock:
            if self._step is not None:
                self._last += self._step
                return self._last
            current = max(time.time_ns(), (self._last // NS_PER_US + 1) * NS_PER_US)
            self._last = current
            return current

    def peek(self) -> int:
        """The current time without advancing the strictly-increasing sequence (for durations)."""
        if self._step is not None:
            return self._last
        return max(time.time_ns(), self._last)
