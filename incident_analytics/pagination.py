"""Cursor paging as a generator, for the sync and the async client alike.

The wire (FACTS.md §3): ``{"query": {..., "limit": n}, "cursor": {"nextValue": "...", "hasMore": true}}``
with the cursor at the top level, handed back unchanged. Stop when ``hasMore`` is false, when
``nextValue`` is empty, or when a page is empty; a cursor seen before is an error, never a loop.
``limit`` is at most 100.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import MAX_PAGE_SIZE
from .errors import PaginationLoopError, ResponseFormatError

JSONDict = dict[str, Any]
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
    pages: int = 0
    yielded: int = 0
    seen_cursors: set[str] = field(default_factory=set)

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
        # gcx: "truncate when the server returns more than you asked for" (FACTS.md §3).
        items = items[:limit]
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
            raise PaginationLoopError(
                f"page {self.pages}: the server returned cursor {next_value[:40]!r} a second time; "
                "stopping instead of fetching the same pages forever",
                method=self.method,
            )
        self.seen_cursors.add(next_value)
        # The cursor goes back unchanged at the top level, next to "query" (GCX#829: a cursor sent
        # anywhere else is silently ignored and page 1 comes back every time).
        self.body["cursor"] = {"nextValue": next_value, "hasMore": True}
        return items, True


def _start(
    method: str, body: Mapping[str, Any] | None, items_key: str, page_size: int, max_items: int | None
) -> _PageState:
    if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
        raise ValueError(f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
    if max_items is not None and (not isinstance(max_items, int) or max_items < 0):
        raise ValueError(f"max_items must be None or a whole number >= 0, got {max_items!r}")
    request = copy.deepcopy(dict(body or {}))
    query = request.setdefault("query", {})
    if not isinstance(query, dict):
        raise TypeError(f"{method}: body['query'] must be a mapping, got {type(query).__name__}")
    request.pop("cursor", None)
    return _PageState(method, items_key, request, min(page_size, MAX_PAGE_SIZE), max_items)


def iter_pages(
    call: Callable[[str, JSONDict], JSONDict],
    method: str,
    body: Mapping[str, Any] | None,
    items_key: str,
    *,
    page_size: int = MAX_PAGE_SIZE,
    max_items: int | None = None,
    on_page: PageCallback | None = None,
) -> Iterator[Any]:
    """Yield every record of a cursor-paged RPC, page after page, lazily.

    Arguments are checked at once, before the first request (not at the first ``next``).

    >>> previews = iter_pages(client.call, "IncidentsService.QueryIncidentPreviews",
    ...                       {"query": {"queryString": "status:active"}}, "incidentPreviews")
    ... # doctest: +SKIP
    """
    state = _start(method, body, items_key, page_size, max_items)

    def pages() -> Iterator[Any]:
        more = max_items != 0
        while more:
            items, more = state.take(call(method, state.request()))
            if on_page is not None:
                on_page(state.pages, state.yielded)
            yield from items

    return pages()


def aiter_pages(
    call: Callable[[str, JSONDict], Awaitable[JSONDict]],
    method: str,
    body: Mapping[str, Any] | None,
    items_key: str,
    *,
    page_size: int = MAX_PAGE_SIZE,
    max_items: int | None = None,
    on_page: PageCallback | None = None,
) -> AsyncIterator[Any]:
    """The async twin of ``iter_pages`` (use with ``async for``)."""
    state = _start(method, body, items_key, page_size, max_items)

    async def pages() -> AsyncIterator[Any]:
        more = max_items != 0
        while more:
            items, more = state.take(await call(method, state.request()))
            if on_page is not None:
                on_page(state.pages, state.yielded)
            for item in items:
                yield item

    return pages()
