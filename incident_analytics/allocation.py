"""The two process-wide allocation settings a fetch or sync changes while it runs, and restores.

**The cyclic garbage collector is paused.** Decoding JSON makes a container object per JSON object
and array, and a fetch holds a batch of them until it becomes frame rows, so the collector runs
over and over during a fetch (about 500 young and 3 full collections at 2,000 incidents) and each
full collection walks every object of the process, the user's notebook included. That cost
1.0-1.3 s of a 7 s fetch, measured with a previous fetch's results in memory. Reference counting
still frees every answer as soon as it is dropped; only reference cycles wait until the collector
runs again, right after the fetch.

**Arrow allocates from the C library's allocator** (``pyarrow.system_memory_pool()``) instead of
its default, mimalloc. A fetch builds its frames in hundreds of small batches, and mimalloc keeps
the pages of the batches it has freed: the peak RSS rise of a 2,000-incident fetch was 39-40 KiB
per incident with mimalloc and 28 with the system allocator, at the same speed (measured in fresh
processes). Buffers remember the pool they came from, so the frames outlive the switch safely. A
pool the user chose with ``ARROW_DEFAULT_MEMORY_POOL`` is left alone.

Both are re-entrant and thread-safe: the first of overlapping fetches changes the setting and the
last one to end restores it.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pyarrow as pa

__all__ = ["arrow_system_pool", "collector_paused", "fetch_allocation"]


class _WhileAny:
    """A process-wide setting held while any of overlapping bodies runs: ``change()`` on the first
    entry returns how to undo it (None: nothing to undo), called when the last body ends."""

    def __init__(self, change: Callable[[], Callable[[], None] | None]) -> None:
        self._change = change
        self._lock = threading.Lock()
        self._depth = 0
        self._undo: Callable[[], None] | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._undo = self._change()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._undo is not None:
                    undo, self._undo = self._undo, None
                    undo()


def _pause_collector() -> Callable[[], None] | None:
    if not gc.isenabled():
        return None  # the caller turned it off: leave it off
    gc.disable()
    return gc.enable


def _use_system_pool() -> Callable[[], None] | None:
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return None  # the user chose a pool
    previous = pa.default_memory_pool()
    if previous.backend_name == "system":
        return None
    pa.set_memory_pool(pa.system_memory_pool())

    def restore() -> None:
        if pa.default_memory_pool().backend_name == "system":  # unless someone else changed it since
            pa.set_memory_pool(previous)

    return restore


_collector = _WhileAny(_pause_collector)
_arrow_pool = _WhileAny(_use_system_pool)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic collector for the body of the ``with``, if it is enabled.

    >>> with collector_paused():
    ...     gc.isenabled()
    False
    """
    with _collector.held():
        yield


@contextmanager
def arrow_system_pool() -> Iterator[None]:
    """Make ``pyarrow.system_memory_pool()`` Arrow's default pool for the body of the ``with`` (unless
    ``ARROW_DEFAULT_MEMORY_POOL`` is set).

    >>> with arrow_system_pool():
    ...     pa.default_memory_pool().backend_name
    'system'
    """
    with _arrow_pool.held():
        yield


@contextmanager
def fetch_allocation() -> Iterator[None]:
    """Both settings for the body (a fetch or a sync); usable as a decorator.

    >>> @fetch_allocation()
    ... def build(): ...
    """
    with collector_paused(), arrow_system_pool():
        yield
