"""A scripted stand-in for the API at the httpx transport level, for unit tests of the client core.

Stateful behaviour is tested against the real emulator; this is for exact wire control: odd status
codes, malformed bodies, network errors raised at a precise attempt.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import httpx

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def json_reply(
    body: Any, status: int = 200, headers: dict[str, str] | None = None, *, gzipped: bool = False
) -> httpx.Response:
    """An httpx response with a JSON body (optionally gzip-encoded on the wire)."""
    content = json.dumps(body).encode()
    all_headers = {"content-type": "application/json; charset=utf-8", **(headers or {})}
    if gzipped:
        content = gzip.compress(content)
        all_headers["content-encoding"] = "gzip"
    return httpx.Response(status, content=content, headers=all_headers)


def text_reply(text: str, status: int, content_type: str = "text/plain") -> httpx.Response:
    """An httpx response with a non-JSON body."""
    return httpx.Response(status, content=text.encode(), headers={"content-type": content_type})


class ScriptedAPI:
    """Answers requests from a queue of replies (or one fixed reply) and remembers every request."""

    def __init__(self, *replies: Reply, default: Reply | None = None) -> None:
        self.replies = list(replies)
        self.default = default
        self.requests: list[httpx.Request] = []

    @property
    def bodies(self) -> list[Any]:
        """The decoded JSON bodies of the requests so far."""
        return [json.loads(r.content) for r in self.requests]

    @property
    def methods(self) -> list[str]:
        """The ``Service.Method`` of each request so far."""
        return [r.url.path.rsplit("/", 1)[-1] for r in self.requests]

    def _next(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if self.replies else self.default
        if reply is None:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    def transport(self) -> httpx.MockTransport:
        """A sync httpx transport answering from this script."""
        return httpx.MockTransport(self._next)

    def async_transport(self) -> httpx.MockTransport:
        """An async httpx transport answering from this script."""

        async def handler(request: httpx.Request) -> httpx.Response:
            await request.aread()
            return self._next(request)

        return httpx.MockTransport(handler)


class SleepRecorder:
    """An injectable sleep that records the requested delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)

    async def asleep(self, seconds: float) -> None:
        """The async form."""
        self.delays.append(seconds)
