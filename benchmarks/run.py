"""All the benchmarks in one command: a table of ratios against baselines measured in the same run.

Run:  python benchmarks/run.py [--quick] [--incidents 2000] [--latency 0.02] [--concurrency 8] [--repeats 3]

Every row sets the toolkit against a named baseline (``benchmarks/baselines.py``, ``bench_bulk``,
``bench_metrics``) measured in this run; the repeats alternate the order of the contenders and the
median is reported. The emulator runs in its own process (no GIL shared with the client), with
``--latency`` seconds added to each response and no rate limit; its CPU time is reported so a
reader can see whether it limited the figures. Memory is the peak RSS rise of a fresh process (the
kernel's VmHWM, reset after the inputs are built), never tracemalloc. The table is printed and
written to ``benchmarks/RESULTS.md``; ``--quick`` (smaller sizes) runs in under 2 minutes.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baselines
import bench_bulk
import bench_metrics
from emulator_process import EmulatorProcess, server_script

import incident_analytics as ia
from incident_analytics import frames, report

T = TypeVar("T")
HERE = Path(__file__).resolve().parent
QUERY = "IncidentsService.QueryIncidentPreviews"

# The emulator in its own process, driven over stdin: set latency, read and reset its request log.
_SERVER = server_script("""
incidents, latency, rate = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
emu = Emulator(seed=1, incidents=incidents, latency=latency, rate_limit=(rate, 20) if rate > 0 else None).start()
emu.prerender()  # a server's steady state: answers encoded once, not on each contender's first pass
""")


def start_emulator(incidents: int, latency: float, rate: float = 0.0) -> EmulatorProcess:
    """The fetch benchmarks' emulator (``incidents`` seeded, ``latency`` s per response) in its own process."""
    return EmulatorProcess(_SERVER, incidents, latency, rate)


class Table:
    """Rows of (benchmark, ours, baseline name, baseline, ratio, note)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str, str]] = []

    def add(self, what: str, ours: str, baseline: str, base: str, ratio: str, note: str = "") -> None:
        self.rows.append((what, ours, baseline, base, ratio, note))
        print(f"  {what}: ours {ours} | {baseline} {base} | {ratio} {note}", flush=True)

    def markdown(self) -> str:
        head = "| benchmark | ours | baseline | baseline value | ratio | note |\n|---|---:|---|---:|---:|---|\n"
        return head + "".join("| " + " | ".join(row) + " |\n" for row in self.rows)


def section(run_section: Callable[..., T], *args: Any) -> T:
    """Run one section of the table and say how long it took (so ``--quick`` stays quick)."""
    started = time.perf_counter()
    result = run_section(*args)
    print(f"  ({run_section.__name__}: {time.perf_counter() - started:.1f} s)", flush=True)
    return result


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def interleaved(contenders: dict[str, Callable[[], Any]], repeats: int, after: Callable[[str], None] | None = None
                ) -> dict[str, list[float]]:
    """Each contender ``repeats`` times, the order rotated each round; seconds per contender."""
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            gc.collect()
            seconds, _ = timed(contenders[name])
            times[name].append(seconds)
            if after is not None:
                after(name)
    return times


# --------------------------------------------------------------------------------------------------
# Fresh-process workers (memory as peak RSS rise)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def _reset_peak() -> int:
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset VmHWM to the current RSS
    return _status_kib("VmRSS")


def vary(record: dict[str, Any], n: int) -> dict[str, Any]:
    """A deep copy of ``record`` with its own ID and distinct strings and times (no shared objects)."""
    out: dict[str, Any] = copy.deepcopy(record)
    out["incidentID"] = str(n + 1)
    out["title"] = f"{record.get('title', '')} #{n}"
    shift = dt.timedelta(minutes=n)
    for key in ("createdTime", "modifiedTime", "incidentStart"):
        value = out.get(key)
        if isinstance(value, str) and value and not value.startswith("0001"):
            out[key] = (pd.Timestamp(value) + shift).isoformat().replace("+00:00", "Z")
    for task in (out.get("taskList") or {}).get("tasks") or []:
        task["taskID"] = f"{task.get('taskID', '')}-{n}"
        task["text"] = f"{task.get('text', '')} ({n})"
    for label in out.get("labels") or []:
        label["label"] = f"{label.get('label', '')}-{n % 97}"
    return out


def worker(kind: str, variant: str, arg: str, extra: str) -> None:
    if kind == "frames":
        sources = json.loads(Path(arg).read_text())
        records = [vary(sources[n % len(sources)], n) for n in range(int(extra))]
        build: Callable[[], Any] = (
            (lambda: baselines.normalize_build(records)) if variant == "json_normalize" else
            (lambda: [f(records) for f in (frames.incidents_frame, frames.tasks_frame,
                                           frames.assignments_frame, frames.labels_frame)])
        )
    else:  # fetch: arg is the URL, extra the token
        import logging

        logging.disable(logging.WARNING)

        def build(limit: int | None = None) -> Any:
            if variant == "ia.fetch":
                with ia.IncidentClient(arg, extra) as client:
                    return ia.fetch(client, progress=False, max_items=limit)
            return baselines.threadpool_fetch(arg, extra, limit=limit)

        # A 5-incident warm-up first: imports (pyarrow's among them) and pools are paid once per
        # process, not per incident.
        build(5)
    gc.collect()
    before = _reset_peak()
    started = time.perf_counter()
    result = build()
    seconds = time.perf_counter() - started
    peak = _status_kib("VmHWM")
    del result
    print(json.dumps({"seconds": seconds, "rise_kib": peak - before}))


def in_fresh_process(kind: str, variant: str, arg: str, extra: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--worker", kind, variant, arg, extra],
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{kind} {variant}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# The sections


def fetch_section(args: argparse.Namespace, table: Table) -> tuple[float, ia.IncidentData, list[dict[str, Any]]]:
    n, lat, conc = args.incidents, args.latency, args.concurrency
    print(f"fetch: {n} incidents, {lat * 1000:.0f} ms per response, concurrency {conc}", flush=True)
    with start_emulator(n, lat) as server:
        url, token = server.url, server.token
        results: dict[str, Any] = {}
        stats: dict[str, list[dict[str, Any]]] = {}
        cpu = [server.ask("stats")["cpu"]]

        def ours() -> None:
            with ia.IncidentClient(url, token) as client:
                results["ia.fetch"] = ia.fetch(client, concurrency=conc, progress=False)

        def record(name: str) -> None:
            got = server.ask("stats")
            got["emulator_cpu"], cpu[0] = got["cpu"] - cpu[0], got["cpu"]
            stats.setdefault(name, []).append(got)

        wide = 4 * conc
        contenders: dict[str, Callable[[], Any]] = {
            "ia.fetch": ours,
            f"{conc}-thread script": lambda: results.__setitem__("threads", baselines.threadpool_fetch(url, token, conc)),  # noqa: E501
            f"{wide}-thread script": lambda: results.__setitem__("wide", baselines.threadpool_fetch(url, token, wide)),
            "sequential client": lambda: results.__setitem__("seq", baselines.sequential_fetch(url, token)),
        }
        times = interleaved(contenders, args.repeats, record)
        data: ia.IncidentData = results["ia.fetch"]
        for name in ("threads", "wide", "seq"):
            assert len(results[name]["incidents"]) == len(data.incidents), name
            assert len(results[name]["activity"]) == len(data.activity), name
        fetch_s = median(times["ia.fetch"])
        methods = stats["ia.fetch"][-1]["methods"]
        pages = methods.get(QUERY, 0)
        calls = sum(v for k, v in methods.items() if k != QUERY)
        fetched = data.fetch_stats
        assert fetched is not None
        reached = fetched.peak_concurrency
        floor = pages * lat + calls * lat / reached
        same = {name: stats[name][-1]["requests"] for name in stats}
        note = f"requests per run {same}"
        for name in ("sequential client", f"{conc}-thread script", f"{wide}-thread script"):
            base = median(times[name])
            table.add(f"fetch {n} incidents @ {lat * 1000:.0f} ms", f"{fetch_s:.2f} s", name, f"{base:.2f} s",
                      f"{base / fetch_s:.2f}x faster", note if name == "sequential client" else "")
        emu_cpu = median([s["emulator_cpu"] for s in stats["ia.fetch"]])
        table.add(f"fetch {n} incidents @ {lat * 1000:.0f} ms", f"{fetch_s:.2f} s",
                  f"round-trip floor at the peak concurrency reached ({pages} pages + {calls} calls / {reached})",
                  f"{floor:.2f} s", f"{fetch_s / floor:.2f}x the floor",
                  f"emulator CPU {emu_cpu:.2f} s = {100 * emu_cpu / fetch_s:.0f}% of the fetch's wall time; "
                  f"concurrency {fetched.concurrency} -> peak {reached}, final {fetched.final_concurrency} "
                  f"({fetched.increases} increases, {fetched.decreases} halvings)")


        with ia.IncidentClient(url, token) as client:
            sources = list(client.incidents.query_full("isdrill:false", max_items=200))
        server.ask("latency 0")
        sync_section(args, table, server, fetch_s)
    return fetch_s, data, sources


def memory_section(args: argparse.Namespace, table: Table) -> None:
    sizes = [int(size) for size in args.memory_sizes.split(",")]
    rises: dict[int, dict[str, float]] = {}
    for size in sizes:
        print(f"fetch memory: {size} incidents, fresh processes", flush=True)
        with start_emulator(size, 0.0) as server:
            got: dict[str, list[float]] = {"ia.fetch": [], "8-thread script": []}
            for r in range(max(1, args.repeats - 1)):
                for name in (("ia.fetch", "8-thread script") if r % 2 == 0 else ("8-thread script", "ia.fetch")):
                    got[name].append(in_fresh_process("fetch", name, server.url, server.token)["rise_kib"])
        rises[size] = {name: median(values) for name, values in got.items()}
        ours, base = (rises[size][name] / size for name in ("ia.fetch", "8-thread script"))
        table.add(f"fetch peak RSS rise per incident ({size:,})", f"{ours:.1f} KiB", "8-thread script",
                  f"{base:.1f} KiB", f"{base / ours:.2f}x less",
                  "fresh process, VmHWM, after a 5-incident warm-up fetch (imports excluded)")
    if len(sizes) > 1:
        low, high = sizes[0], sizes[-1]
        ours, base = ((rises[high][name] - rises[low][name]) / (high - low) for name in ("ia.fetch", "8-thread script"))
        table.add(f"fetch peak RSS per extra incident ({low:,} -> {high:,})", f"{ours:.1f} KiB", "8-thread script",
                  f"{base:.1f} KiB", f"{base / ours:.2f}x less", "slope between the two sizes")


def rate_limit_section(args: argparse.Namespace, table: Table, reference: ia.IncidentData) -> None:
    n, lat, rate = args.incidents, args.latency, args.rate
    print(f"fetch under a server rate limit of {rate:.0f} requests/s", flush=True)
    clients = {
        "client told the limit (rate_limit=)": {"rate_limit": rate},
        "client not told (learns the rate from its 429s, shared Retry-After)": {},
    }
    with start_emulator(n, lat, rate) as server:
        server.ask("stats")
        runs: dict[str, list[tuple[float, int, int, ia.IncidentData, float | None]]] = {name: [] for name in clients}
        for r in range(max(1, args.repeats - 1)):
            for name in (list(clients) if r % 2 == 0 else list(reversed(clients))):
                with ia.IncidentClient(server.url, server.token, **clients[name]) as client:
                    seconds, data = timed(lambda: ia.fetch(client, concurrency=args.concurrency, progress=False))
                    learned = client.learned_rate
                got = server.ask("stats")
                runs[name].append((seconds, got["requests"], int(got["statuses"].get("429", 0)), data, learned))
    for name, done in runs.items():
        seconds, requests, refused, data, learned = sorted(done, key=lambda run: run[0])[len(done) // 2]
        for frame in ("incidents", "tasks", "labels", "assignments", "activity"):
            # An open incident's duration is counted up to the moment of the read.
            mine, theirs = (getattr(d, frame).drop(columns=["duration_seconds"], errors="ignore")
                            for d in (data, reference))
            pd.testing.assert_frame_equal(mine, theirs, obj=frame)
        answered = requests - refused
        pace = f"; paced at {learned:.0f} req/s at the end" if learned is not None else ""
        note = (f"{name}: {refused} of {requests} requests answered 429 ({100 * refused / requests:.2f}%){pace}; "
                "frames identical to the unlimited fetch")
        table.add(f"fetch {n} incidents, server limit {rate:.0f} req/s", f"{answered / seconds:.0f} req/s",
                  "the allowed rate", f"{rate:.0f} req/s", f"{100 * answered / seconds / rate:.0f}% of it", note)


def sync_section(args: argparse.Namespace, table: Table, server: EmulatorProcess, fetch_s: float) -> None:
    print("sync after 0%, 1%, 10% of incidents changed", flush=True)
    with tempfile.TemporaryDirectory() as store, ia.IncidentClient(server.url, server.token) as client:
        ids = ia.sync(client, store, concurrency=args.concurrency, progress=False).incidents["incident_id"].tolist()
        times: dict[float, list[float]] = {0.0: [], 0.01: [], 0.1: []}
        for r in range(args.repeats):
            for share in times:
                server.ask("latency 0")
                changed = pd.Series(ids).sample(frac=share, random_state=r).tolist()
                for iid in changed:
                    client.incidents.add_label(iid, f"bench-{r}-{share}")
                server.ask(f"latency {args.latency}")
                seconds, synced = timed(lambda: ia.sync(client, store, concurrency=args.concurrency, progress=False))
                assert (synced.labels["value"] == f"bench-{r}-{share}").sum() == len(changed)
                times[share].append(seconds)
        server.ask("latency 0")
    for share, values in times.items():
        ours = median(values)
        table.add(f"sync after {share:.0%} changed ({len(ids)} incidents)", f"{ours:.2f} s", "full ia.fetch",
                  f"{fetch_s:.2f} s", f"{100 * ours / fetch_s:.1f}% of a fetch")


def frames_section(args: argparse.Namespace, table: Table, sources: list[dict[str, Any]]) -> None:
    count = args.records
    print(f"frames from {count} distinct records", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sources.json"
        path.write_text(json.dumps(sources))
        got: dict[str, list[dict[str, float]]] = {"frames": [], "json_normalize": []}
        for r in range(args.repeats):
            for name in (("frames", "json_normalize") if r % 2 == 0 else ("json_normalize", "frames")):
                got[name].append(in_fresh_process("frames", name, str(path), str(count)))
    ours_s, base_s = (median([g["seconds"] for g in got[k]]) for k in ("frames", "json_normalize"))
    ours_m, base_m = (median([g["rise_kib"] for g in got[k]]) / 1024 for k in ("frames", "json_normalize"))
    table.add(f"build frames, {count:,} distinct records", f"{ours_s:.2f} s", "json_normalize", f"{base_s:.2f} s",
              f"{base_s / ours_s:.2f}x faster", "deep copies, varied IDs/titles/times/labels")
    table.add(f"build frames, {count:,} distinct records: peak RSS rise", f"{ours_m:.0f} MiB", "json_normalize",
              f"{base_m:.0f} MiB", f"{base_m / ours_m:.2f}x less", "fresh process, VmHWM")


def bulk_section(args: argparse.Namespace, table: Table) -> None:
    changes = args.changes
    per = bench_bulk.PER_INCIDENT_ADDS + bench_bulk.PER_INCIDENT_REMOVES
    incidents = [str(i) for i in range(1, changes // per + 1)]
    print(f"bulk apply: {changes} changes", flush=True)
    runs = bench_bulk.run_order(args.repeats, ("seq", "bulk"))
    with bench_bulk.start_emulator(len(incidents) + 10, 500.0, 20) as server, \
            ia.IncidentClient(server.url, server.token, rate_limit=450.0) as client:
        times: dict[str, list[float]] = {"seq": [], "bulk": []}
        too_many = 0
        for run, kind in runs:
            plan = bench_bulk.prepare(server, client, incidents, run)  # planned just before, as a user does
            server.ask(f"latency {args.latency}")
            times[kind].append(bench_bulk.timed(client, plan, kind, args.concurrency))
            too_many += server.ask("stats")["statuses"].get("429", 0)
    seq, bulk = median(times["seq"]), median(times["bulk"])
    floor = changes * args.latency / args.concurrency
    table.add(f"bulk apply {changes} label changes", f"{bulk:.2f} s", "sequential loop", f"{seq:.2f} s",
              f"{seq / bulk:.2f}x faster", f"429s answered: {too_many}")
    table.add(f"bulk apply {changes} label changes", f"{bulk:.2f} s", f"floor changes x latency / {args.concurrency}",
              f"{floor:.2f} s", f"{bulk / floor:.2f}x the floor")


def metrics_section(args: argparse.Namespace, table: Table) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"metrics at {sizes}", flush=True)
    baseline = {"mttr": "pandas groupby agg", "survival": "lifelines KM per group", "label_stats": "merge + groupby"}
    by: dict[tuple[str, int], float] = {}
    for function in baseline:
        for size in sizes:
            got: dict[str, list[dict[str, float]]] = {"ours": [], "baseline": []}
            for r in range(args.metric_repeats):
                for variant in (("ours", "baseline") if r % 2 == 0 else ("baseline", "ours")):
                    got[variant].append(bench_metrics.measure(function, size, variant))
            ours, base = (median([g["seconds"] for g in got[v]]) for v in ("ours", "baseline"))
            ours_mb, base_mb = (median([g["peak_mb"] for g in got[v]]) for v in ("ours", "baseline"))
            by[(function, size)] = ours
            table.add(f"metrics.{function} at {size:,}", f"{ours:.3f} s, {ours_mb:.0f} MB peak", baseline[function],
                      f"{base:.3f} s, {base_mb:.0f} MB", f"{base / ours:.2f}x faster", "fresh process each")
        if len(sizes) > 1:
            small, big = sizes[-2], sizes[-1]
            growth = by[(function, big)] / by[(function, small)]
            table.add(f"metrics.{function} growth {big:,}/{small:,}", f"{growth:.1f}x", "linear", f"{big / small:.1f}x",
                      f"{growth / (big / small):.2f}", "time ratio / size ratio (1 = linear)")


def report_section(args: argparse.Namespace, table: Table, data: ia.IncidentData, fetch_s: float) -> None:
    print("reports", flush=True)
    first = str(data.incidents["incident_id"].iloc[0])
    contenders: dict[str, Callable[[], Any]] = {
        "review html": lambda: report.review(data, format="html"),
        "postmortem markdown": lambda: report.postmortem(data, first),
    }
    times = interleaved(contenders, args.repeats)
    for name, values in times.items():
        table.add(f"report: {name} ({len(data.incidents)} incidents)", f"{median(values):.2f} s",
                  "the ia.fetch that fed it", f"{fetch_s:.2f} s", f"{median(values) / fetch_s:.2f} of a fetch")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes")
    parser.add_argument("--incidents", type=int, default=None, help="seeded incidents (default 2000, quick 100)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per response (default 0.02)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 3, quick 1)")
    parser.add_argument("--records", type=int, default=None, help="records for the frame build (default 100000)")
    parser.add_argument("--changes", type=int, default=None, help="bulk label changes (default 2000, quick 200)")
    parser.add_argument("--sizes", default=None, help="metric sizes (default 10000,100000,1000000)")
    parser.add_argument("--memory-sizes", default=None, help="fetch memory sizes (default 2000,20000; quick 100,1000)")
    parser.add_argument("--rate", type=float, default=200.0, help="the server's rate limit for the rate row (req/s)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    q = args.quick
    args.incidents = args.incidents or (100 if q else 2000)
    args.repeats = args.repeats or (1 if q else 3)
    args.records = args.records or (3_000 if q else 100_000)
    args.changes = args.changes or (200 if q else 2000)
    args.sizes = args.sizes or ("10000,30000" if q else "10000,100000,1000000")
    args.memory_sizes = args.memory_sizes or ("100,1000" if q else "2000,20000")
    args.metric_repeats = 1 if q else 2
    started = time.perf_counter()
    table = Table()
    fetch_s, data, sources = section(fetch_section, args, table)
    section(rate_limit_section, args, table, data)
    section(memory_section, args, table)
    section(frames_section, args, table, sources)
    section(bulk_section, args, table)
    section(metrics_section, args, table)
    section(report_section, args, table, data, fetch_s)
    total = time.perf_counter() - started
    machine = (f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, pandas {pd.__version__}, "
               f"load average {os.getloadavg()[0]:.1f}")
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    text = (f"# Benchmark results\n\nProduced by `{command.strip()}` in {total:.0f} s on {machine}. "
            f"{args.incidents} incidents, {args.latency * 1000:.0f} ms per response, concurrency "
            f"{args.concurrency}, median of {args.repeats} interleaved repeats (metrics: {args.metric_repeats}).\n\n"
            + table.markdown())
    print("\n" + table.markdown())
    args.out.write_text(text)
    print(f"written to {args.out} ({total:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
