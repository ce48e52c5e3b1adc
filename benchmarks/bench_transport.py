"""The sync client's request path: its own http.client connections against the httpx path it replaced.

Run:  python benchmarks/bench_transport.py [--incidents 2000] [--calls 2000] [--latency 0.02] [--repeats 3]

Two figures, each a ratio of contenders measured in this run with the order alternated per repeat
(the median is reported), against the emulator in its own process (``run.start_emulator``):

1. client CPU per call (``time.process_time`` of this process) over ``--calls`` sequential
   ``GetIncident`` calls on distinct incidents, no added latency;
2. ``ia.fetch`` wall time of every incident at ``--latency`` s per response, concurrency 8 and 32,
   next to the 8-thread httpx script of ``baselines.py``; with the emulator's CPU seconds, since on a
   small machine it can be the limit.

The httpx path is the same ``IncidentClient`` given ``transport=httpx.HTTPTransport()`` (what it
used for every request before; an injected transport keeps requests on httpx).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baselines
from run import interleaved, median, start_emulator

import incident_analytics as ia

LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=32)


def client(url: str, token: str, path: str) -> ia.IncidentClient:
    """An ``IncidentClient`` on the ``fast`` (http.client) or the ``httpx`` path."""
    if path == "httpx":
        return ia.IncidentClient(url, token, transport=httpx.HTTPTransport(limits=LIMITS))
    return ia.IncidentClient(url, token)


def cpu_per_call(url: str, token: str, path: str, ids: list[str]) -> float:
    """Client CPU milliseconds per sequential ``GetIncident`` call."""
    with client(url, token, path) as c:
        c.incidents.get(ids[0])  # connect outside the measurement
        started = time.process_time()
        for iid in ids:
            c.incidents.get(iid)
        return (time.process_time() - started) * 1000 / len(ids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with start_emulator(args.incidents, 0.0) as server:
        url, token = server.url, server.token
        ids = [str(i % args.incidents + 1) for i in range(args.calls)]
        cpu: dict[str, list[float]] = {"fast": [], "httpx": []}
        for r in range(args.repeats):
            for path in ("fast", "httpx") if r % 2 == 0 else ("httpx", "fast"):
                cpu[path].append(cpu_per_call(url, token, path, ids))
        fast_cpu, httpx_cpu = median(cpu["fast"]), median(cpu["httpx"])
        print(f"client CPU per GetIncident call ({args.calls} calls, median of {args.repeats}): "
              f"http.client path {fast_cpu:.3f} ms, httpx path {httpx_cpu:.3f} ms, {httpx_cpu / fast_cpu:.2f}x less",
              flush=True)

        server.ask(f"latency {args.latency}")
        server.ask("stats")
        emulator_cpu: dict[str, list[float]] = {}
        last_cpu = [server.ask("stats")["cpu"]]

        def after(name: str) -> None:
            now = server.ask("stats")["cpu"]
            emulator_cpu.setdefault(name, []).append(now - last_cpu[0])
            last_cpu[0] = now

        def fetch(path: str, concurrency: int) -> Callable[[], Any]:
            def run() -> Any:
                with client(url, token, path) as c:
                    return ia.fetch(c, concurrency=concurrency, progress=False)
            return run

        contenders: dict[str, Callable[[], Any]] = {
            f"fetch {path} c={conc}": fetch(path, conc) for conc in (8, 32) for path in ("fast", "httpx")
        }
        contenders["8-thread httpx script"] = lambda: baselines.threadpool_fetch(url, token, 8)
        times = interleaved(contenders, args.repeats, after)
    script = median(times["8-thread httpx script"])
    print(f"\nfetch of {args.incidents} incidents at {args.latency * 1000:.0f} ms per response "
          f"(median of {args.repeats}):")
    print("| contender | wall s | vs 8-thread script | emulator CPU s |\n|---|---:|---:|---:|")
    for name, values in times.items():
        print(f"| {name} | {median(values):.2f} | {script / median(values):.2f}x | "
              f"{median(emulator_cpu[name]):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
