"""The incident-analytics command: demo, fetch, sync, report, labels and emulator.

demo needs no credentials: it starts the bundled emulator on loopback, fetches from it, prints a
labelled summary and writes a period review and a postmortem draft as HTML (and a Parquet store) into
out/. fetch, sync, report and labels read GRAFANA_URL and GRAFANA_SERVICE_ACCOUNT_TOKEN (or --url;
the token is never taken from the command line, where it would land in shell history and process
lists).

Adding a subcommand: write ``_cmd_NAME(args, out) -> int`` and its ``_NAME_arguments(parser)``, and
append one ``Command`` to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO
from urllib.parse import urlsplit

import pandas as pd

from ._version import __version__
from .bulk.cli import add_labels_parser
from .client import IncidentClient
from .config import DEFAULT_PLUGIN_ID, TOKEN_ENV, URL_ENV, is_loopback_host
from .emulator import SCENARIOS, Emulator
from .errors import ConfigurationError, IncidentAnalyticsError
from .fetch import check_concurrency, fetch, to_utc
from .store import IncidentData, stored_selection
from .sync import selection_from, sync

logger = logging.getLogger("incident_analytics")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

EXIT_CODES = f"""exit codes:
  {EXIT_OK}    success
  {EXIT_FAILED}    the API or the store failed (the message says which, and what to do)
  {EXIT_USAGE}    bad arguments or configuration (missing URL or token, unusable --out)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
  {EXIT_BROKEN_PIPE}  the output pipe was closed (e.g. | head)"""

ENVIRONMENT = f"""environment:
  {URL_ENV}                     the stack URL, e.g. https://mystack.grafana.net (or --url)
  {TOKEN_ENV}   a service-account token (Viewer is enough to read);
                                  never taken from the command line"""


class UsageError(Exception):
    """A mistake in the command line or its environment; printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block), pointing to --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the epilog's line breaks (exit codes, environment)."""


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


# --------------------------------------------------------------------------------------------------
# Checks made before anything is fetched, in the command line's own words.


def _writable_folder(folder: Path, what: str) -> Path:
    """Refuse a store folder that is a file or cannot be written, before a long fetch is wasted."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{what} {folder} is a file, not a folder: choose a folder for the store")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{what} {folder}: {existing} is a file, so the folder cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {folder}: no permission to write in {existing}")
    return folder


_ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def _time_flag(flag: str) -> Callable[[str], str]:
    """An ISO 8601 date or time (``01/02/2026`` is refused: is it January or February?)."""

    def check(text: str) -> str:
        try:
            if not _ISO_8601.match(text.strip()):
                raise ValueError(text)
            to_utc(flag, text.strip())
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not an ISO 8601 date or time; use e.g. 2026-01-01 or 2026-01-01T09:30:00Z"
            ) from None
        return text.strip()

    return check


def _concurrency(text: str) -> int:
    try:
        return check_concurrency(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to 64") from None


# The library's messages name Python arguments; on the command line the flag or variable is meant.
_CLI_WORDS = (
    ("pass allow_insecure_http=True", "pass --allow-insecure-http"),
    ("allow_insecure_http=True", "--allow-insecure-http"),
    ("pass url=...", "pass --url"),
    ("url=", "--url "),
    ("pass token=... or set", "set"),
    ("as token= or in", "in"),
    ("plugin_id", "--plugin-id"),
)


def _in_cli_words(message: str) -> str:
    for python, flag in _CLI_WORDS:
        message = message.replace(python, flag)
    return message


def _client(args: argparse.Namespace) -> IncidentClient:
    """The client, after checking URL and token here so that a mistake names the flag or variable."""
    url = args.url or os.environ.get(URL_ENV, "")
    if not url.strip():
        raise UsageError(f"no Grafana URL: pass --url (e.g. https://mystack.grafana.net) or set {URL_ENV}")
    if not os.environ.get(TOKEN_ENV, "").strip():
        raise UsageError(f"no API token: set {TOKEN_ENV} to a Grafana service-account token (Viewer can read)")
    parts = urlsplit(url.strip())
    insecure = parts.scheme == "http" and parts.hostname and not is_loopback_host(parts.hostname)
    if insecure and not args.allow_insecure_http:
        raise UsageError(
            f"refusing plain http:// for {parts.hostname}: the token would travel unencrypted. "
            "Use https://, or pass --allow-insecure-http if you really mean it"
        )
    return IncidentClient(url, plugin_id=args.plugin_id, allow_insecure_http=args.allow_insecure_http)


def _selection_given(args: argparse.Namespace) -> dict[str, Any]:
    """The selection flags the user actually passed (sync takes the rest from the store)."""
    given: dict[str, Any] = {}
    for name in ("since", "until", "query"):
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    if args.include_drills:
        given["include_drills"] = True
    return given


def _checked_selection(stored: dict[str, Any] | None, given: dict[str, Any]) -> None:
    try:
        selection_from(stored or {}, given)
    except (TypeError, ValueError) as exc:
        message = str(exc).replace("since", "--since").replace("until", "--until")
        raise UsageError(message) from None


# --------------------------------------------------------------------------------------------------
# The commands.


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from .demo import run_demo

    folder = _writable_folder(args.out, "--out")
    run_demo(
        folder,
        incidents=args.incidents,
        seed=args.seed,
        latency=args.latency,
        since=args.since,
        concurrency=args.concurrency,
        progress=not args.quiet,
        out=out,
    )
    return EXIT_OK


def _report_target(path: Path | None, default: str) -> Path:
    """The report file: its suffix picks the format, checked before anything is fetched."""
    from ._render import format_for

    target = path if path is not None else Path(default)
    try:
        format_for(target)
    except ValueError as exc:
        raise UsageError(f"--out {target}: {exc}") from None
    if target.parent.exists() and not target.parent.is_dir():
        raise UsageError(f"--out {target}: {target.parent} is a file")
    return target


def _report_store(args: argparse.Namespace) -> Path | None:
    store: Path | None = args.store
    if store is not None and not store.is_dir():
        raise UsageError(f"--store {store} is not a store folder (write one with: incident-analytics fetch --out)")
    return store


def _cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    from .report import postmortem_file, review_file

    store = _report_store(args)
    if args.report == "postmortem":
        target = _report_target(args.out, f"postmortem-{args.incident_id.strip()}.html")
    else:
        target = _report_target(args.out, "review.html")
        start, end = to_utc("since", args.since), to_utc("until", args.until)
        if start is not None and end is not None and start >= end:
            raise UsageError(f"--since {args.since} must be before --until {args.until}")
    # One source, checked before any request: the store's data, or a client built by _client (URL,
    # token and --allow-insecure-http named in the CLI's words).
    source = IncidentData.read_parquet(store) if store is not None else _client(args)
    try:
        if args.report == "postmortem":
            path = postmortem_file(source, args.incident_id, out=target)
            _write(out, f"Wrote the postmortem draft of incident {args.incident_id} to {path.resolve()}")
        else:
            path = review_file(source, since=args.since, until=args.until, out=target, progress=not args.quiet)
            _write(out, f"Wrote the review to {path.resolve()}")
    finally:
        if isinstance(source, IncidentClient):
            source.close()
    return EXIT_OK


def _cmd_fetch(args: argparse.Namespace, out: TextIO) -> int:
    folder = _writable_folder(args.out, "--out")
    given = _selection_given(args)
    _checked_selection(None, given)
    with _client(args) as client:
        data = fetch(client, **given, concurrency=args.concurrency, progress=not args.quiet)
    _summary(data, out)
    _write(out, f"\nWrote {data.to_parquet(folder).resolve()}")
    return EXIT_OK


def _cmd_sync(args: argparse.Namespace, out: TextIO) -> int:
    folder = _writable_folder(args.store, "the store")
    given = _selection_given(args)
    _checked_selection(stored_selection(folder), given)
    with _client(args) as client:
        data = sync(client, folder, **given, concurrency=args.concurrency, progress=not args.quiet)
    _write(out, str(data.sync_report))
    _summary(data, out)
    return EXIT_OK


def _cmd_emulator(args: argparse.Namespace, out: TextIO) -> int:
    if not is_loopback_host(args.host) and not args.allow_remote:
        raise UsageError(
            f"--host {args.host} is not a loopback address: the emulator accepts writes from anyone who can "
            "reach it; pass --allow-remote to serve it beyond this machine"
        )
    emu = Emulator(
        seed=args.seed,
        incidents=args.incidents,
        scenario=args.scenario,
        host=args.host,
        port=args.port,
        latency=args.latency,
        token=args.token,
    )
    try:
        emu.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {args.port} on {args.host} is taken: choose another with --port (0 picks a free one)"
            ) from None
        raise UsageError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}") from None
    # A dedicated server process: switch threads sooner than the default 5 ms, so that one busy handler
    # thread does not hold up the others' answers (a real server has no GIL to queue behind).
    sys.setswitchinterval(0.0005)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        size = len(emu.state.incidents)
        _write(out, f"Grafana Incident API emulator on {emu.url} ({size} incidents, seed {emu.seed})")
        _write(out, f"API base URL: {emu.api_url}")
        _write(out, "Point a client at it with:")
        _write(out, f"  export {URL_ENV}={emu.url}")
        # The emulator's own throwaway token; the user needs it to connect.
        _write(out, f"  export {TOKEN_ENV}={emu.token}")
        _write(out, "Press Ctrl-C to stop.")
        stop.wait()
    finally:
        emu.stop()
    return EXIT_OK


# --------------------------------------------------------------------------------------------------
# The arguments of each command.


def _target_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help=f"stack URL (default: ${URL_ENV}); the token comes from ${TOKEN_ENV}")
    p.add_argument(
        "--plugin-id",
        default=DEFAULT_PLUGIN_ID,
        help="grafana-irm-app, or grafana-incident-app on older stacks (default: %(default)s)",
    )
    p.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow a plain http:// URL that is not loopback (the token travels unencrypted; default: refused)",
    )


def _selection_arguments(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument(
        "--since", type=_time_flag("since"), help=f"declared at or after this UTC date/time, e.g. 2026-01-01 {default}"
    )
    p.add_argument("--until", type=_time_flag("until"), help=f"declared before this UTC date/time {default}")
    p.add_argument("--query", help=f'a Grafana queryString, e.g. "severity:critical label:security" {default}')
    p.add_argument("--include-drills", action="store_true", help=f"keep drills {default.replace('none', 'no')}")
    p.add_argument(
        "--concurrency", type=_concurrency, default=8, help="per-incident calls in flight, 1-64 (default: %(default)s)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars (default: bars on stderr)")


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--incidents", type=int, default=None, help="seeded incidents (default: the demo scenario's, 1,000)"
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the generated data (default: the demo scenario's)")
    p.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to each emulator response (default: %(default)s)"
    )
    p.add_argument("--since", type=_time_flag("since"), help="declared at or after this UTC date (default: all)")
    p.add_argument(
        "--concurrency", type=_concurrency, default=8, help="per-incident calls in flight, 1-64 (default: %(default)s)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars (default: bars on stderr)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("out"),
        help="folder for review.html, postmortem-ID.html and the Parquet store (default: %(default)s)",
    )


def _report_arguments(p: argparse.ArgumentParser) -> None:
    reports = p.add_subparsers(dest="report", required=True, parser_class=_Parser)

    def common(q: argparse.ArgumentParser, default_out: str) -> None:
        q.add_argument("--out", type=Path, help=f"file to write, .html or .md (default: {default_out})")
        q.add_argument("--store", type=Path, help="read this Parquet store instead of the stack (default: the stack)")
        _target_arguments(q)

    postmortem = reports.add_parser(
        "postmortem", help="a postmortem draft for one incident", formatter_class=_Formatter, epilog=ENVIRONMENT
    )
    postmortem.add_argument("incident_id", metavar="INCIDENT_ID", help="the incident's ID")
    common(postmortem, "postmortem-INCIDENT_ID.html")
    review = reports.add_parser(
        "review",
        help="a review of the incidents declared in a period, compared with the one before",
        formatter_class=_Formatter,
        epilog=ENVIRONMENT,
    )
    review.add_argument("--since", type=_time_flag("since"), help="period start, UTC (default: the first incident)")
    review.add_argument("--until", type=_time_flag("until"), help="period end, exclusive, UTC (default: now)")
    review.add_argument("--quiet", action="store_true", help="no progress bars (default: bars on stderr)")
    common(review, "review.html")


def _fetch_arguments(p: argparse.ArgumentParser) -> None:
    _target_arguments(p)
    _selection_arguments(p, "(default: none)")
    p.add_argument("--out", type=Path, required=True, help="folder for the Parquet store (required)")


def _sync_arguments(p: argparse.ArgumentParser) -> None:
    _target_arguments(p)
    _selection_arguments(p, "(default: as stored; a change means a full refetch)")
    p.add_argument("store", type=Path, help="the store folder (created on first use)")


def _emulator_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, loopback)")
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a --host that is not loopback (default: loopback only)"
    )
    p.add_argument("--port", type=int, default=8080, help="port to listen on, 0 for a free one (default: %(default)s)")
    p.add_argument(
        "--scenario",
        choices=list(SCENARIOS),
        default=None,
        help="a preset world: demo, small, large or empty (default: none, --seed 0 and --incidents 300)",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="seed of the generated data (default: the scenario's, else 0)"
    )
    p.add_argument("--incidents", type=int, default=None, help="seeded incidents (default: the scenario's, else 300)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to each response (default: %(default)s)")
    p.add_argument("--token", default=None, help="accept this token (default: a random one, printed)")


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, one-line help, arguments, and the function that runs it."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, TextIO], int]
    epilog: str = ""


COMMANDS: list[Command] = [
    Command(
        "demo", "fetch from the bundled emulator and summarise (no credentials needed)", _demo_arguments, _cmd_demo
    ),
    Command(
        "report",
        "write a postmortem draft (report postmortem ID) or a period review (report review) as HTML or Markdown",
        _report_arguments,
        _cmd_report,
        ENVIRONMENT,
    ),
    Command("fetch", "fetch incidents from a stack into a Parquet store", _fetch_arguments, _cmd_fetch, ENVIRONMENT),
    Command(
        "sync",
        "bring a Parquet store up to date, fetching only what changed (keeps the store's selection)",
        _sync_arguments,
        _cmd_sync,
        ENVIRONMENT,
    ),
    Command(
        "emulator", "serve the bundled Grafana Incident API emulator on loopback", _emulator_arguments, _cmd_emulator
    ),
]


def _parser() -> argparse.ArgumentParser:
    description = (__doc__ or "").split("\n\n")[0]
    parser = _Parser(prog="incident-analytics", description=description, epilog=EXIT_CODES, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log a summary per phase (-vv: every request) (default: warnings only)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        p = sub.add_parser(
            command.name,
            help=command.help,
            description=command.help,
            epilog="\n\n".join(part for part in (command.epilog, EXIT_CODES) if part),
            formatter_class=_Formatter,
        )
        command.arguments(p)
        p.set_defaults(run=command.run)
    add_labels_parser(sub)
    return parser


def _configure_logging(verbose: int) -> None:
    """-v: the package's INFO lines (a summary per phase); -vv: DEBUG, one line per request.

    Only the package's logger is raised: httpx logs every request at INFO, which -v must not show.
    """
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if verbose:
        logger.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (see ``EXIT_CODES``)."""
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    stream = out or sys.stdout
    try:
        return int(args.run(args, stream))
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted (Ctrl-C)\n")
        return EXIT_INTERRUPTED
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    except ConfigurationError as exc:
        sys.stderr.write(f"error: {_in_cli_words(str(exc))}\n")
        return EXIT_USAGE
    except IncidentAnalyticsError as exc:
        # The package's own errors are expected failures with a message that says what to do. Anything
        # else is a bug and keeps its traceback.
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
