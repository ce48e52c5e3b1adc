"""Cursor paging as a generator, for the sync and the async client alike.

The wire (docs/api.md#paging): ``{"query": {..., "limit": n}, "cursor": {"nextValue": "...", "hasMore": true}}``
with the cursor at the top level, handed back unchanged. Stop when ``hasMore`` is false, when
``nextValue`` is empty, or when a page is empty. Paging that would not end is an error
(``PaginationLoopError``), never a loop: a cursor seen before, a page that adds no record not already
seen (the server hands a new cursor over the same records), or more than ``max_pages`` pages
(default ``DEFAULT_MAX_PAGES``, see ``config``). ``limit`` is at most 100. The response key of the
records and the field that identifies one come from the method catalogue (``methods.METHODS``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import DEFAULT_MAX_PAGES, MAX_PAGE_SIZE, check_count
from .errors import PaginationLoopError, ResponseFormatError
from .methods import METHODS
from .types import JSONDict

PageCallback = Callable[[int, int], None]
"""Called after each page with (pages fetched so far, items yielded so far)."""


@dataclass
class _PageState:
    """What the paging loop knows between pages; shared by the sync and async generators."""

    method: str
    items_key: str
    body: JSONDict
    page_size: int
    max_items: int | None
    max_pages: int
    record_id: str | None = None
    pages: int = 0
    yielded: int = 0
    seen_cursors: set[str] = field(default_factory=set)
    seen_records: set[Hashable] = field(default_factory=set)
    stopped: PaginationLoopError | None = None
    """Why paging must stop with an error; raised once the last page's records are handed over."""

    def _key(self, item: Any) -> Hashable:
        """What identifies a record: its ID field, else its whole JSON text."""
        if self.record_id is not None and isinstance(item, Mapping):
            value = item.get(self.record_id)
            if isinstance(value, str | int) and value != "":
                return value
        return json.dumps(item, sort_keys=True, default=str)

    def _loop(self, why: str) -> PaginationLoopError:
        return PaginationLoopError(f"{self.method}: paging stopped after {self.pages} pages: {why}", method=self.method)

    def request(self) -> JSONDict:
        """The body of the next request, with ``query.limit`` never above 100 or what is left."""
        limit = self.page_size
        if self.max_items is not None:
            limit = min(limit, self.max_items - self.yielded)
        self.body["query"]["limit"] = limit
        # A copy, so a caller that keeps the body (a log, a recorder) never sees later pages' cursors.
        return copy.deepcopy(self.body)

    def take(self, response: Mapping[str, Any]) -> tuple[list[Any], bool]:
        """Read one page: the items to yield and whether another page should be asked for."""
        self.pages += 1
        items = response.get(self.items_key)
        if items is None:
            items = []
        if not isinstance(items, list):
            raise ResponseFormatError(
                f"page {self.pages}: {self.items_key!r} should be a list, got {type(items).__name__}",
                method=self.method,
            )
        limit = self.body["query"]["limit"]
        # gcx: "truncate when the server returns more than you asked for" (docs/api.md#stop-rules).
        items = items[:limit]
        before = len(self.seen_records)
        self.seen_records.update(self._key(item) for item in items)
        fresh = len(self.seen_records) - before
        self.yielded += len(items)
        if not items or (self.max_items is not None and self.yielded >= self.max_items):
            return items, False
        cursor = response.get("cursor")
        if cursor is None:
            return items, False
        if not isinstance(cursor, Mapping):
            raise ResponseFormatError(
                f"page {self.pages}: 'cursor' should be an object, got {type(cursor).__name__}",
                method=self.method,
            )
        next_value = cursor.get("nextValue") or ""
        if not cursor.get("hasMore") or not next_value:
            return items, False
        if not isinstance(next_value, str):
            raise ResponseFormatError(
                f"page {self.pages}: cursor.nextValue should be a string, got {type(next_value).__name__}",
                method=self.method,
            )
        if next_value in self.seen_cursors:
            self.stopped = self._loop(
                f"the server returned cursor {next_value[:40]!r} a second time; "
                "stopping instead of fetching the same pages forever"
            )
            return items, False
        if not fresh:
            self.stopped = self._loop(
                f"page {self.pages} holds only records already returned, under a new cursor; "
                "stopping instead of fetching the same records forever"
            )
            return items, False
        if self.pages >= self.max_pages:
            self.stopped = self._loop(
                f"the server still reports more after max_pages={self.max_pages} pages "
                f"({self.yielded} records); pass a larger max_pages if the listing really is that long"
            )
            return items, False
        self.seen_cursors.add(next_value)
        # The cursor goes back unchanged at the top level, next to "query" (docs/api.md#paging: a cursor sent
        # anywhere else is silently ignored and page 1 comes back every time).
        self.body["cursor"] = {"nextValue": next_value, "hasMore": True}
        return items, True


def resolve_items_key(method: str, items_key: str | None) -> str:
    """``items_key`` if given, else the catalogue's for ``method``; a clear error if neither."""
    if items_key is not None:
        if not isinstance(items_key, str) or not items_key:
            raise TypeError(f"items_key must be a non-empty string, got {items_key!r}")
        return items_key
    entry = METHODS.get(method)
    if entry is None or entry.items_key is None:
        raise ValueError(f"{method} is not a catalogued paged listing; pass items_key=")
    return entry.items_key


def _start(
    method: str,
    body: Mapping[str, Any] | None,
    items_key: str | None,
    page_size: int,
    max_items: int | None,
    max_pages: int | None,
    on_page: PageCallback | None,
) -> _PageState:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ValueError(f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
    if isinstance(max_items, bool) or (max_items is not None and not isinstance(max_items, int)):
        raise TypeError(f"max_items must be None or a whole number >= 0, got {type(max_items).__name__} {max_items!r}")
    if max_items is not None and max_items < 0:
        raise ValueError(f"max_items must be None or a whole number >= 0, got {max_items!r}")
    pages = check_count("max_pages", max_pages, minimum=1, allow_none=True) or DEFAULT_MAX_PAGES
    if on_page is not None and not callable(on_page):
        raise TypeError(f"on_page must be a callable (pages, items) -> None, got {type(on_page).__name__}")
    if body is not None and not isinstance(body, Mapping):
        raise TypeError(f"{method}: body must be a mapping, got {type(body).__name__}")
    key = resolve_items_key(method, items_key)
    request = copy.deepcopy(dict(body or {}))
    query = request.setdefault("query", {})
    if not isinstance(query, dict):
        raise TypeError(f"{method}: body['query'] must be a mapping, got {type(query).__name__}")
    request.pop("cursor", None)
    entry = METHODS.get(method)
    record_id = entry.record_id if entry is not None and entry.items_key == key else None
    return _PageState(method, key, request, min(page_size, MAX_PAGE_SIZE), max_items, pages, record_id)


def iter_pages(
    call: Callable[[str, JSONDict], JSONDict],
    method: str,
    body: Mapping[str, Any] | None,
    items_key: str | None = None,
    *,
    page_size: int = MAX_PAGE_SIZE,
    max_items: int | None = None,
    max_pages: int | None = None,
    on_page: PageCallback | None = None,
) -> Iterator[Any]:
    """Yield every record of a cursor-paged RPC, page after page, lazily.

    Arguments are checked at once, before the first request (not at the first ``next``).
    ``items_key`` defaults to the catalogue's; ``max_pages`` to ``DEFAULT_MAX_PAGES``.

    >>> previews = iter_pages(client.call, "IncidentsService.QueryIncidentPreviews",
    ...                       {"query": {"queryString": "status:active"}}, "incidentPreviews")
    ... # doctest: +SKIP
    """
    state = _start(method, body, items_key, page_size, max_items, max_pages, on_page)

    def pages() -> Iterator[Any]:
        more = max_items != 0
        while more:
            items, more = state.take(call(method, state.request()))
            if on_page is not None:
                on_page(state.pages, state.yielded)
            yield from items
        if state.stopped is not None:
            raise state.stopped

    return pages()


def aiter_pages(
    call: Callable[[str, JSONDict], Awaitable[JSONDict]],
    method: str,
    body: Mapping[str, Any] | None,
    items_key: str | None = None,
    *,
    page_size: int = MAX_PAGE_SIZE,
    max_items: int | None = None,
    max_pages: int | None = None,
    on_page: PageCallback | None = None,
) -> AsyncIterator[Any]:
    """The async twin of :func:`iter_pages` (use with ``async for``)."""
    state = _start(method, body, items_key, page_size, max_items, max_pages, on_page)

    async def pages() -> AsyncIterator[Any]:
        more = max_items != 0
        while more:
            items, more = state.take(await call(method, state.request()))
            if on_page is not None:
                on_page(state.pages, state.yielded)
            for item in items:
                yield item
        if state.stopped is not None:
            raise state.stopped

    return pages()
