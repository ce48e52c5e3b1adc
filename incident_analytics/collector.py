"""Pause Python's cyclic garbage collector while a fetch turns thousands of answers into rows.

Decoding JSON makes a container object per JSON object and array, and a fetch holds a batch of
them until it becomes frame rows, so the collector runs over and over during a fetch (about 500
young and 3 full collections at 2,000 incidents) and each full collection walks every object of
the process, the user's notebook included. That cost 1.0-1.3 s of a 7 s fetch, measured with a
previous fetch's results in memory. Reference counting still frees every answer as soon as it
is dropped; only reference cycles wait until the collector runs again, right after the fetch.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]

_lock = threading.Lock()
_depth = 0  # fetches and syncs under way in this process
_paused_by_us = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic collector for the body of the ``with``, if it is enabled; re-entrant and
    thread-safe: it is enabled again when the last of overlapping bodies ends.

    >>> with collector_paused():
    ...     gc.isenabled()
    False
    """
    global _depth, _paused_by_us
    with _lock:
        if _depth == 0:
            _paused_by_us = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _paused_by_us:
                _paused_by_us = False
                gc.enable()
