"""How long the emulator takes to generate its seeded world (issue #12: 20,000 incidents in under 3 s).

Run:  python benchmarks/bench_generation.py [--incidents 20000] [--repeats 5] [--against /path/to/other/checkout]

Each repeat builds ``State(0, n)`` (what ``Emulator(scenario="large")`` does before it serves) in a
fresh process and reports the minimum over the repeats of: the construction's wall and CPU time;
the same including the first allocations after it (when a young-generation collection over the new
records, if one is due, is paid); and the time to then read every incident's timeline (its records
are made when first read, so a server asked about every incident pays this too). With ``--against``
the same measurements run, interleaved, on another checkout of the package (for example the code
before a change) and the ratio is printed; without it the figure is set against the issue's 3 s
budget.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 3.0

_WORKER = """
import sys, time
from incident_analytics.emulator.state import State
n = int(sys.argv[1])
wall, cpu = time.perf_counter(), time.process_time()
state = State(0, n)
built_wall, built_cpu = time.perf_counter() - wall, time.process_time() - cpu
after = [[] for _ in range(1000)]  # the first tracked allocations: a collection is paid here if one is due
settled = time.perf_counter() - wall
read = time.perf_counter()
items = sum(len(incident.activity) for incident in state.incidents.values())
print(built_wall, built_cpu, settled, time.perf_counter() - read, items)
"""


def measure(package_root: Path, n: int) -> list[float]:
    """One fresh-process run: [construction wall s, construction CPU s, incl. first collection s, read all s, items]."""
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    # Run from the checkout itself: ``python -c`` puts the working directory ahead of PYTHONPATH.
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, str(n)], env=env, cwd=package_root, capture_output=True, text=True, check=True
    )
    return [float(value) for value in done.stdout.split()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another checkout of the package to measure as the baseline")
    args = parser.parse_args()
    contenders = {"this checkout": ROOT}
    if args.against is not None:
        contenders["baseline " + str(args.against)] = args.against.resolve()
    runs: dict[str, list[list[float]]] = {name: [] for name in contenders}
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        for name, root in contenders.items():
            runs[name].append(measure(root, args.incidents))
    best = {name: [min(column) for column in zip(*rows, strict=True)] for name, rows in runs.items()}
    print(f"State(0, {args.incidents:,}), minimum of {args.repeats} fresh processes")
    print(f"{'':<40} {'wall s':>8} {'CPU s':>8} {'+1st GC s':>10} {'read all s':>11} {'items':>9}")
    for name, (wall, cpu, settled, read, items) in best.items():
        print(f"{name:<40} {wall:>8.2f} {cpu:>8.2f} {settled:>10.2f} {read:>11.2f} {items:>9,.0f}")
    ours = best["this checkout"][2]
    if args.against is not None:
        base = best["baseline " + str(args.against)][2]
        print(f"ratio (incl. first collection): {ours / base:.2f} of the baseline's {base:.2f} s")
    else:
        print(f"ratio to the issue's {BUDGET_S:.0f} s budget (incl. first collection): {ours / BUDGET_S:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
