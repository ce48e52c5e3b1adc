"""The HTTP layer's own request parsing and response writing (emulator/server.py)."""

from __future__ import annotations

import gzip
import http.client
import io
import json
import socket
import threading

import pytest

from incident_analytics.emulator import Emulator
from incident_analytics.emulator.server import GzipCache, read_headers

HEADS = [
    b"Host: x\r\nContent-Length: 2\r\n\r\n",
    b"host: a\r\nHOST: b\r\nAccept-Encoding:gzip  \r\nX-Empty:\r\nX-Blank:   \r\n\r\n",
    b"Content-Type: application/json\nAuthorization: Bearer t\n\n",  # bare LF line ends
    b"X-Folded: first\r\n second\r\n\tthird\r\nAfter: yes\r\n\r\n",  # obsolete line folding
    b" Leading: continuation first\r\nReal: one\r\n\r\n",
    b": no name\r\nNamed: kept\r\n\r\n",
    b"Good: 1\r\nBad Header: 2\r\nLater: 3\r\n\r\n",  # a non-header line ends the headers
    b"Latin: caf\xe9\r\nTab:\tvalue\r\n\r\n",
    b"Only: one",  # no blank line before the end of the stream
]
NAMES = [
    "host",
    "content-length",
    "accept-encoding",
    "x-empty",
    "x-blank",
    "content-type",
    "authorization",
    "x-folded",
    "after",
    "leading",
    "real",
    "named",
    "good",
    "bad header",
    "later",
    "latin",
    "tab",
    "only",
]


@pytest.mark.parametrize("head", HEADS)
def test_headers_read_as_http_server_reads_them(head: bytes) -> None:
    """Every header value is what http.server's email-based parsing gives (Message.get), for odd heads too."""
    ours = read_headers(io.BufferedReader(io.BytesIO(head)))  # type: ignore[arg-type]
    theirs = http.client.parse_headers(io.BufferedReader(io.BytesIO(head)))  # type: ignore[arg-type]
    for name in NAMES:
        assert ours.get(name) == theirs.get(name), name
        assert ours.get(name.upper(), "-") == theirs.get(name.upper(), "-"), name


def _raw(emu: Emulator, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", emu.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _post(emu: Emulator, method: str, body: bytes, extra: bytes = b"") -> bytes:
    path = f"/api/plugins/grafana-irm-app/resources/api/v1/{method}".encode()
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + emu.token.encode() + b"\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body
    )


def test_response_head_is_http_servers(seeded: Emulator) -> None:
    """Status line and headers in http.server's order and spelling; the body follows its Content-Length."""
    answer = _raw(seeded, _post(seeded, "IncidentsService.GetLabels", b'{"incidentID":"1"}'))
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert [line.split(b":")[0] for line in lines[1:]] == [
        b"Server",
        b"Date",
        b"Content-Type",
        b"Vary",
        b"Content-Length",
    ]
    assert (
        lines[1] == b"Server: incident-emulator " and lines[1 + 2] == b"Content-Type: application/json; charset=utf-8"
    )
    assert int(lines[-1].split(b": ")[1]) == len(body) and "labels" in json.loads(body)


def test_gzip_and_retry_after_headers_keep_their_place(seeded: Emulator) -> None:
    """Content-Encoding comes before Vary; a fault's Retry-After before Content-Length."""
    gzipped = _raw(seeded, _post(seeded, "RolesService.GetRoles", b"{}", b"Accept-Encoding: gzip\r\n"))
    head, _, body = gzipped.partition(b"\r\n\r\n")
    names = [line.split(b":")[0] for line in head.split(b"\r\n")[1:]]
    assert names == [b"Server", b"Date", b"Content-Type", b"Content-Encoding", b"Vary", b"Content-Length"]
    assert "roles" in json.loads(gzip.decompress(body))
    seeded.inject("503", method="RolesService.GetRoles")
    refused = _raw(seeded, _post(seeded, "RolesService.GetRoles", b"{}"))
    head = refused.partition(b"\r\n\r\n")[0]
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 503 Service Unavailable"
    names = [line.split(b":")[0] for line in head.split(b"\r\n")[1:]]
    assert names == [b"Server", b"Date", b"Content-Type", b"Vary", b"Retry-After", b"Content-Length"]


def test_head_limits_are_answered_431(seeded: Emulator) -> None:
    """More than 100 header lines, or a line over 64 KiB: 431, as http.server answers."""
    many = b"".join(b"X-%d: y\r\n" % i for i in range(101))
    assert _raw(seeded, _post(seeded, "RolesService.GetRoles", b"{}", many)).startswith(b"HTTP/1.1 431 ")
    long = b"X-Long: " + b"a" * 70_000 + b"\r\n"
    assert _raw(seeded, _post(seeded, "RolesService.GetRoles", b"{}", long)).startswith(b"HTTP/1.1 431 ")


def test_bad_request_lines_get_http_servers_errors(seeded: Emulator) -> None:
    """A malformed request line or version gets http.server's 400/505 error pages (its version unknown, no head)."""
    assert b"Error code: 400" in _raw(seeded, b"POST / HTTP/x.y\r\n\r\n")
    assert b"Error code: 505" in _raw(seeded, b"POST / HTTP/2.0\r\n\r\n")
    assert b"Error code: 400" in _raw(seeded, b"ONE TWO THREE FOUR\r\n\r\n")
    assert _raw(seeded, b"POST /a b HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 400 ")


def test_http_1_0_closes_and_connection_close_is_honoured(seeded: Emulator) -> None:
    """HTTP/1.0 without keep-alive, or Connection: close, ends the connection after the answer."""
    request = _post(seeded, "RolesService.GetRoles", b"{}").replace(b"HTTP/1.1", b"HTTP/1.0")
    answer = _raw(seeded, request.replace(b"Connection: close\r\n", b""))  # returns only when the server closes
    assert answer.startswith(b"HTTP/1.1 200 OK")


def test_64_concurrent_keep_alive_connections_each_get_answers() -> None:
    """64 clients connect at the same moment and each makes three calls on its connection: no reset, all 200."""
    clients = 64
    with Emulator(seed=1, incidents=20, latency=0.2) as emu:
        start = threading.Barrier(clients)
        outcomes: list[object] = [None] * clients

        def run(index: int) -> None:
            try:
                start.wait(timeout=30)
                connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=60)
                statuses = []
                for _ in range(3):
                    body = json.dumps({"incidentID": str(index % 20 + 1)})
                    connection.request(
                        "POST",
                        "/api/plugins/grafana-irm-app/resources/api/v1/IncidentsService.GetIncident",
                        body=body,
                        headers={"Authorization": f"Bearer {emu.token}", "Content-Type": "application/json"},
                    )
                    response = connection.getresponse()
                    answer = json.loads(response.read())
                    statuses.append((response.status, answer["incident"]["incidentID"]))
                connection.close()
                outcomes[index] = statuses
            except Exception as exc:  # reported below with the client's index
                outcomes[index] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        failures = {i: o for i, o in enumerate(outcomes) if not isinstance(o, list)}
        assert failures == {}
        assert all(o == [(200, str(i % 20 + 1))] * 3 for i, o in enumerate(outcomes))
        assert len(emu.requests) == clients * 3


def test_gzip_cache_gives_the_same_bytes_and_stays_bounded() -> None:
    """A body compressed again comes from the cache, byte-identical; the cache keeps within its bound."""
    cache = GzipCache(max_bytes=50_000)
    bodies = [json.dumps({"n": i, "text": "x" * (i * 100)}).encode() for i in range(60)]
    first = [cache.compress(b) for b in bodies]
    again = [cache.compress(b) for b in bodies]
    assert first == again == [gzip.compress(b, compresslevel=1, mtime=0) for b in bodies]
    assert [gzip.decompress(c) for c in first] == bodies
    assert 0 < cache.size <= 50_000
