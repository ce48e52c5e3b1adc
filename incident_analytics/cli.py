"""The ``incident-analytics`` command: ``demo``, ``fetch``, ``sync``, ``report`` and ``emulator``.

``demo`` needs no credentials: it starts the bundled emulator on loopback, fetches from it, prints a
summary and writes a review and a postmortem as HTML (and a Parquet store) into ``out/``. ``fetch``,
``sync`` and ``report`` read ``GRAFANA_URL`` and ``GRAFANA_SERVICE_ACCOUNT_TOKEN`` (or ``--url``; the
token is never taken from the command line, where it would land in shell history and process lists).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from ._version import __version__
from .client import IncidentClient
from .emulator import SCENARIOS, Emulator
from .errors import IncidentAnalyticsError
from .fetch import fetch, sync
from .store import IncidentData


def _write(out: TextIO, text: str = "") -> None:
    out.write(text + "\n")
    out.flush()


def _summary(data: IncidentData, out: TextIO) -> None:
    """A short plain-text account of what was fetched."""
    _write(out, repr(data))
    incidents = data.incidents
    if incidents.empty:
        return
    _write(out, "\nIncidents by severity and status:")
    table = incidents.pivot_table(
        index="severity", columns="status", values="incident_id", aggfunc="count", fill_value=0, observed=True
    )
    _write(out, table.to_string())
    ended = incidents["incident_end"].fillna(incidents["closed_time"])
    started = incidents["incident_start"].fillna(incidents["created_time"])
    hours = ((ended - started).dt.total_seconds() / 3600).rename("hours to resolve")
    frame = pd.DataFrame({"severity": incidents["severity"], "hours": hours}).dropna()
    if not frame.empty:
        _write(out, "\nHours from start of impact to end (resolved incidents, drills excluded):")
        stats = frame.groupby("severity", observed=True)["hours"].describe(percentiles=[0.5, 0.9])
        _write(out, stats[["count", "50%", "90%", "max"]].round(1).to_string())
    if not data.labels.empty:
        _write(out, "\nMost used labels:")
        top = data.labels.groupby(["key", "value"], observed=True).size().nlargest(8)
        _write(out, top.to_string())
    if len(data.errors):
        _write(out, f"\n{len(data.incomplete)} incidents are incomplete; see the errors frame.")


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from .demo import run_demo

    run_demo(
        args.out,
        incidents=args.incidents,
        seed=args.seed,
        latency=args.latency,
        since=args.since,
        concurrency=args.concurrency,
        progress=not args.quiet,
        out=out,
    )
    return 0


def _cmd_report_postmortem(args: argparse.Namespace, out: TextIO) -> int:
    from .report import postmortem_file

    path = postmortem_file(args.incident_id, out=args.out, store=args.store, url=args.url, plugin_id=args.plugin_id)
    _write(out, f"Wrote the postmortem draft of incident {args.incident_id} to {path.resolve()}")
    return 0


def _cmd_report_review(args: argparse.Namespace, out: TextIO) -> int:
    from .report import review_file

    path = review_file(
        since=args.since,
        until=args.until,
        out=args.out,
        store=args.store,
        url=args.url,
        plugin_id=args.plugin_id,
        progress=not args.quiet,
    )
    _write(out, f"Wrote the review to {path.resolve()}")
    return 0


def _selection(args: argparse.Namespace) -> dict[str, Any]:
    """The fetch/sync keyword arguments the two commands share."""
    return {
        "since": args.since,
        "until": args.until,
        "query": args.query,
        "include_drills": args.include_drills,
        "concurrency": args.concurrency,
        "progress": not args.quiet,
    }


def _cmd_fetch(args: argparse.Namespace, out: TextIO) -> int:
    with IncidentClient(args.url, plugin_id=args.plugin_id) as client:
        data = fetch(client, **_selection(args))
    _summary(data, out)
    _write(out, f"\nWrote {data.to_parquet(args.out).resolve()}")
    return 0


def _cmd_sync(args: argparse.Namespace, out: TextIO) -> int:
    with IncidentClient(args.url, plugin_id=args.plugin_id) as client:
        data = sync(client, args.store, **_selection(args))
    _summary(data, out)
    return 0


def _cmd_emulator(args: argparse.Namespace, out: TextIO) -> int:
    emu = Emulator(
        seed=args.seed,
        incidents=args.incidents,
        scenario=args.scenario,
        host=args.host,
        port=args.port,
        latency=args.latency,
        token=args.token,
    )
    # A dedicated server process: switch threads sooner than the default 5 ms, so that one busy handler
    # thread does not hold up the others' answers (a real server has no GIL to queue behind).
    sys.setswitchinterval(0.0005)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    emu.start()
    try:
        size = len(emu.state.incidents)
        _write(out, f"Grafana Incident API emulator on {emu.url} ({size} incidents, seed {emu.seed})")
        _write(out, "Point a client at it with:")
        _write(out, f"  export GRAFANA_URL={emu.url}")
        # The emulator's own throwaway token; the user needs it to connect.
        _write(out, f"  export GRAFANA_SERVICE_ACCOUNT_TOKEN={emu.token}")
        _write(out, "Press Ctrl-C to stop.")
        stop.wait()
    finally:
        emu.stop()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incident-analytics", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for every request)")
    sub = parser.add_subparsers(dest="command", required=True)

    def selection(p: argparse.ArgumentParser) -> None:
        p.add_argument("--since", help="declared at or after this date/time (UTC), e.g. 2026-01-01")
        p.add_argument("--until", help="declared before this date/time (UTC)")
        p.add_argument("--query", help='a Grafana queryString, e.g. "severity:critical label:security"')
        p.add_argument("--include-drills", action="store_true", help="keep drills (excluded by default)")
        p.add_argument("--concurrency", type=int, default=8, help="per-incident calls in flight (default 8)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")

    def target(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", help="stack URL (default: $GRAFANA_URL); the token comes from the environment")
        p.add_argument("--plugin-id", default="grafana-irm-app", help="grafana-irm-app or grafana-incident-app")

    demo = sub.add_parser("demo", help="fetch from the bundled emulator and summarise (no credentials needed)")
    demo.add_argument("--incidents", type=int, default=None, help="seeded incidents (default: the demo scenario's)")
    demo.add_argument("--seed", type=int, default=None, help="seed of the data (default: the demo scenario's)")
    demo.add_argument("--latency", type=float, default=0.0, help="seconds added to each emulator response")
    demo.add_argument("--since", help="declared at or after this date (UTC)")
    demo.add_argument("--concurrency", type=int, default=8)
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.add_argument("--out", type=Path, default=Path("out"), help="folder for the reports and store (default out)")
    demo.set_defaults(run=_cmd_demo)

    report = sub.add_parser("report", help="write a postmortem draft or a period review (HTML or Markdown)")
    report_sub = report.add_subparsers(dest="report", required=True)
    postmortem = report_sub.add_parser("postmortem", help="a postmortem draft for one incident")
    postmortem.add_argument("incident_id", metavar="INCIDENT_ID")
    postmortem.add_argument("--out", type=Path, help="file to write; .html or .md (default postmortem-ID.html)")
    postmortem.add_argument("--store", type=Path, help="read this Parquet store instead of the stack")
    target(postmortem)
    postmortem.set_defaults(run=_cmd_report_postmortem)
    review = report_sub.add_parser("review", help="a review of the incidents declared in a period")
    review.add_argument("--since", help="period start (UTC), e.g. 2026-07-01 (default: the first incident)")
    review.add_argument("--until", help="period end, exclusive (UTC), e.g. 2026-10-01 (default: now)")
    review.add_argument("--store", type=Path, help="read this Parquet store instead of fetching from the stack")
    review.add_argument("--out", type=Path, help="file to write; .html or .md (default review.html)")
    review.add_argument("--quiet", action="store_true", help="no progress bars")
    target(review)
    review.set_defaults(run=_cmd_report_review)

    fetch_cmd = sub.add_parser("fetch", help="fetch incidents from a stack into a Parquet store")
    target(fetch_cmd)
    selection(fetch_cmd)
    fetch_cmd.add_argument("--out", type=Path, required=True, help="folder for the Parquet store")
    fetch_cmd.set_defaults(run=_cmd_fetch)

    sync_cmd = sub.add_parser("sync", help="bring a Parquet store up to date, fetching only what changed")
    target(sync_cmd)
    selection(sync_cmd)
    sync_cmd.add_argument("store", type=Path, help="the store folder (created on first use)")
    sync_cmd.set_defaults(run=_cmd_sync)

    emu = sub.add_parser("emulator", help="serve the bundled Grafana Incident API emulator on loopback")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8080)
    emu.add_argument("--seed", type=int, default=None, help="seed of the data (default: the scenario's, else 0)")
    emu.add_argument("--incidents", type=int, default=None, help="seeded incidents (default: the scenario's, else 300)")
    emu.add_argument(
        "--scenario", choices=list(SCENARIOS), default=None, help="a preset world: demo, small, large or empty"
    )
    emu.add_argument("--latency", type=float, default=0.0, help="seconds added to each response")
    emu.add_argument("--token", default=None, help="accept this token (default: a random one, printed)")
    emu.set_defaults(run=_cmd_emulator)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stream = out or sys.stdout
    try:
        return int(args.run(args, stream))
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (IncidentAnalyticsError, ValueError, TypeError) as exc:
        logging.getLogger("incident_analytics").error("%s", exc)
        sys.stderr.write(f"error: {exc}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
