"""Bulk label changes: speed against a sequential loop and the round-trip floor, and a fault run.

Run:  python benchmarks/bench_bulk.py [--changes 2000] [--latency 0.02] [--concurrency 8] [--repeats 1]
      python benchmarks/bench_bulk.py --faults-only

1. Speed. The emulator runs in its own process with ``--latency`` seconds added to every response
   and a rate limit (``--rate-limit`` requests/s, burst 20; over it, 429 + Retry-After). Each repeat
   applies two distinct plans of ``--changes`` changes (8 per incident: 6 free-form adds with
   ``AddLabel``, 2 removes with ``RemoveLabel``): one with the loop a competent user writes (one
   named client call per row, sequential), one with ``apply_label_changes`` at ``--concurrency``.
   Each plan is made (untimed, no latency) just before its run, as a user plans then applies, so
   apply takes it as the server's state and reads no incident first; a third contender applies
   with ``trust_plan_for=0`` (each incident read before its first write: a plan loaded from a file,
   a resumed run). Repeats alternate the order. The floor is ``changes x latency / concurrency``;
   the target is apply within 1.5x of it with no 429 answered.
   The sequential loop also gives the real round trip (latency plus client and server CPU), and
   the floor with that round trip is printed too: on a loaded machine it is the honest bound.
2. Fault run. An in-process emulator injects 10% faults (2.5% each of HTTP 500, 503 and 429 with
   Retry-After, and dropped connections); a fresh 2,000-change plan (free-form adds and keyed
   assigns) is applied, once as made and once with ``trust_plan_for=0``, and the server's labels
   are compared with the plan: missing, duplicated or extra labels are losses.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter

import pandas as pd
from emulator_process import EmulatorProcess, server_script

import incident_analytics as ia
from incident_analytics.bulk import LabelPlan, apply_label_changes, plan_label_changes
from incident_analytics.emulator import Emulator

PER_INCIDENT_ADDS, PER_INCIDENT_REMOVES = 6, 2

# The emulator in its own process (no GIL shared with the client), driven over stdin.
_SERVER = server_script("""
incidents, rate, burst = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
emu = Emulator(seed=2, incidents=incidents, rate_limit=(rate, burst)).start()
""")


def start_emulator(incidents: int, rate: float, burst: int) -> EmulatorProcess:
    """This benchmark's emulator (``incidents`` seeded, rate limit ``rate``/s with ``burst``) in its own process."""
    return EmulatorProcess(_SERVER, incidents, rate, burst)


def speed_plan(client: ia.IncidentClient, incidents: list[str], run: str) -> LabelPlan:
    """Adds of this run's tags and removes of the tags planted for it, 8 changes per incident."""
    adds = [(iid, "tags", f"bench-{run}-{j}") for iid in incidents for j in range(PER_INCIDENT_ADDS)]
    removes = [(iid, "tags", f"planted-{run}-{j}") for iid in incidents for j in range(PER_INCIDENT_REMOVES)]
    columns = ["incident_id", "key", "value"]
    plan = pd.concat(
        [
            plan_label_changes(pd.DataFrame(adds, columns=columns), client=client),
            plan_label_changes(pd.DataFrame(removes, columns=columns), client=client, mode="remove"),
        ],
        ignore_index=True,
    )
    return LabelPlan(plan.sort_values(["incident_id", "action"], kind="stable").reset_index(drop=True))


def sequential_loop(client: ia.IncidentClient, plan: pd.DataFrame) -> None:
    """What a competent user writes: the right named call per row, one after the other."""
    for row in plan.itertuples():
        if row.action == "add":
            client.incidents.add_label(row.incident_id, row.value)
        elif row.action == "remove":
            client.incidents.remove_label(row.incident_id, row.value)


CONTENDERS = {
    "seq": "sequential loop",
    "bulk": "apply_label_changes",
    "read": "apply_label_changes, read first",
}


def run_order(repeats: int, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(run name, contender)`` for each repeat, the contenders' order rotated from one repeat to the next."""
    return [(f"{kind}{r}", kind) for r in range(repeats)
            for kind in kinds[r % len(kinds):] + kinds[:r % len(kinds)]]


def prepare(server: EmulatorProcess, client: ia.IncidentClient, incidents: list[str], run: str) -> LabelPlan:
    """Untimed, without latency: plant the labels this run removes, then plan the run."""
    server.ask("latency 0")
    planted = [(iid, "tags", f"planted-{run}-{j}") for iid in incidents for j in range(PER_INCIDENT_REMOVES)]
    setup = plan_label_changes(pd.DataFrame(planted, columns=["incident_id", "key", "value"]), client=client)
    apply_label_changes(client, setup, concurrency=8, progress=False)
    plan = speed_plan(client, incidents, run)
    server.ask("stats")
    return plan


def timed(client: ia.IncidentClient, plan: LabelPlan, kind: str, concurrency: int) -> float:
    """Seconds to apply ``plan`` with contender ``kind``; every change must be applied."""
    return timed_with_cpu(client, plan, kind, concurrency)[0]


def timed_with_cpu(client: ia.IncidentClient, plan: LabelPlan, kind: str, concurrency: int) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds to apply ``plan`` with contender ``kind``."""
    changes = int((plan["action"] != "skip").sum())
    cpu = time.process_time()
    started = time.perf_counter()
    if kind == "seq":
        sequential_loop(client, plan)
    else:
        trust = {"read": {"trust_plan_for": 0.0}}.get(kind, {})
        result = apply_label_changes(client, plan, concurrency=concurrency, progress=False, **trust)
        assert (result["status"] == "applied").sum() == changes, result["status"].value_counts()
    return time.perf_counter() - started, time.process_time() - cpu


def speed(args: argparse.Namespace) -> None:
    incidents = [str(i) for i in range(1, args.changes // (PER_INCIDENT_ADDS + PER_INCIDENT_REMOVES) + 1)]
    runs = run_order(args.repeats, tuple(CONTENDERS))
    floor = args.changes * args.latency / args.concurrency
    print(f"1. speed: {args.changes} changes on {len(incidents)} incidents, latency {args.latency * 1000:.0f} ms, "
          f"emulator rate limit {args.rate_limit:.0f}/s (burst 20), concurrency {args.concurrency}")
    with start_emulator(len(incidents) + 10, args.rate_limit, 20) as server, \
            ia.IncidentClient(server.url, server.token, rate_limit=args.client_rate) as client:
        times: dict[str, list[float]] = {kind: [] for kind in CONTENDERS}
        for run, kind in runs:
            plan = prepare(server, client, incidents, run)
            assert int((plan["action"] != "skip").sum()) == args.changes
            server.ask(f"latency {args.latency}")
            server_cpu = server.ask("stats")["cpu"]
            elapsed, client_cpu = timed_with_cpu(client, plan, kind, args.concurrency)
            stats = server.ask("stats")
            times[kind].append(elapsed)
            label = CONTENDERS[kind] + (f" (concurrency {args.concurrency})" if kind != "seq" else "")
            print(f"   {label:<52} {elapsed:6.2f} s  cpu client {client_cpu:5.2f} s server "
                  f"{stats['cpu'] - server_cpu:5.2f} s  load {os.getloadavg()[0]:4.1f}  "
                  f"requests {stats['requests']:5d}  429s {stats['statuses'].get('429', 0)}  "
                  f"{dict(stats['methods'])}", flush=True)
    seq, bulk = min(times["seq"]), min(times["bulk"])
    print(f"   floor changes x latency / concurrency = {floor:.2f} s")
    for kind in ("bulk", "read"):
        values = times[kind]
        print(f"   {CONTENDERS[kind]:<33} min {min(values):.2f} s  median {statistics.median(values):.2f} s  "
              f"-> {min(values) / floor:.2f}x / {statistics.median(values) / floor:.2f}x the floor (target <= 1.5)")
    print(f"   sequential loop min {seq:.2f} s  median {statistics.median(times['seq']):.2f} s; "
          f"sequential / apply = {seq / bulk:.1f}x")
    # The latency is not the whole round trip: client and server CPU come on top, and on a busy
    # machine they dominate. The sequential loop measures that round trip in the same run.
    round_trip = seq / args.changes
    print(f"   measured round trip {round_trip * 1000:.1f} ms (latency {args.latency * 1000:.0f} ms); "
          f"changes x round trip / concurrency = {args.changes * round_trip / args.concurrency:.2f} s; "
          f"apply / that = {bulk / (args.changes * round_trip / args.concurrency):.2f}x")


FAULTS = {"500": 0.025, "503": 0.025, "429": 0.025, "drop": 0.025}


def fault_plan(client: ia.IncidentClient, changes: int) -> LabelPlan:
    """A fresh plan of ``changes`` adds (free-form and keyed) over incidents 1-320, as a user makes it."""
    rows = [(str(i), "tags", f"fault-run-{j}") for i in range(1, 321) for j in range(6)]
    rows += [(str(i), "cause", v) for i in range(1, 321) for v in ("deploy", "config", "capacity", "dependency")]
    planned = plan_label_changes(pd.DataFrame(rows, columns=["incident_id", "key", "value"]), client=client)
    chosen = planned[planned["action"] == "add"].head(changes)[["incident_id", "key", "value"]]
    return plan_label_changes(pd.DataFrame(chosen), client=client)


def fault_run(changes: int, trust_plan_for: float | None) -> None:
    how = "as planned" if trust_plan_for is None else f"trust_plan_for={trust_plan_for:g} (read first)"
    print(f"\n2. fault run, {how}: {changes} changes, 10% injected faults {FAULTS}")
    with Emulator(seed=11, incidents=320, faults=FAULTS, fault_seed=4) as emu, \
            ia.IncidentClient(emu.url, emu.token) as client:
        plan = fault_plan(client, changes)
        with emu.state.lock:
            before = {iid: {(lb.key, lb.text) for lb in inc.labels} for iid, inc in emu.state.incidents.items()}
        emu.reset_requests()
        options = {} if trust_plan_for is None else {"trust_plan_for": trust_plan_for}
        started = time.perf_counter()
        result = apply_label_changes(client, plan, progress=False, **options)
        elapsed = time.perf_counter() - started
        records = emu.requests
        want = {iid: set(labels) for iid, labels in before.items()}
        for row in plan.itertuples():
            want[str(row.incident_id)].add((str(row.key), str(row.value)))
        missing = duplicated = extra = 0
        with emu.state.lock:
            for iid, incident in emu.state.incidents.items():
                have = [(lb.key, lb.text) for lb in incident.labels]
                duplicated += len(have) - len(set(have))
                missing += len(want[iid] - set(have))
                extra += len(set(have) - want[iid])
    faults = Counter(r.fault for r in records if r.fault)
    methods = Counter(r.method.rsplit(".", 1)[-1] for r in records)
    status = result["status"].value_counts().to_dict()
    print(f"   {elapsed:.1f} s, requests {len(records)} {dict(methods)}")
    print(f"   faults injected {sum(faults.values())} ({sum(faults.values()) / len(records):.1%}) {dict(faults)}")
    print(f"   changes applied {status.get('applied', 0)}, skipped {status.get('skipped', 0)}, "
          f"failed {status.get('failed', 0)}; write attempts {int(result['attempts'].sum())}")
    print(f"   final state: missing {missing}, duplicated {duplicated}, unexpected {extra} "
          f"-> {'exactly the desired state' if missing == duplicated == extra == 0 else 'NOT the desired state'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--rate-limit", type=float, default=500.0, help="the emulator's requests per second")
    parser.add_argument("--client-rate", type=float, default=450.0, help="the client's own requests-per-second cap")
    parser.add_argument("--faults-only", action="store_true")
    parser.add_argument("--speed-only", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, pandas {pd.__version__}")
    if not args.faults_only:
        speed(args)
    if not args.speed_only:
        fault_run(args.changes, None)
        fault_run(args.changes, 0.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
