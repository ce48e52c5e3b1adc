"""``apply_label_changes``: run a plan with bounded concurrency, a journal and outcome checks.

Changes of one incident run in plan order in one worker (adds before removes, and no two writes
to one incident's label list at once); different incidents run in parallel. Each incident's labels
are read once before its first write, so a change already in place is reported ``skipped`` instead
of being sent again: re-applying an applied plan writes nothing. A write that fails in a way that
leaves its outcome unknown (a dropped connection, a 5xx, a timeout, retries exhausted) is checked
by reading the incident's labels again before it is retried, so ``AddLabel`` is never doubled.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from .. import rpc
from ..errors import (
    AuthenticationError,
    IncidentAPIError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from .current import Label, check_client, read_labels
from .frames import TAGS_KEY, LabelResult, result_frame
from .journal import ChangeKey, Journal, read_done
from .validate import plan_rows

logger = logging.getLogger("incident_analytics")

# Failures after which the write may or may not have happened: check the server, then retry.
UNCERTAIN = (ServerError, TransportError, RateLimitError, ResponseFormatError)
FATAL = (AuthenticationError, PermissionDeniedError)
Outcome = dict[str, Any]


def request_for(change: dict[str, str]) -> rpc.RPC[Any]:
    """The RPC a change sends: AddLabel/RemoveLabel for free-form, AssignLabel/UnassignLabel for keyed."""
    iid, key, value = change["incident_id"], change["key"], change["value"]
    if key == TAGS_KEY:
        return rpc.add_label(iid, value) if change["action"] == "add" else rpc.remove_label(iid, value)
    return rpc.assign_label(iid, key, value) if change["action"] == "add" else rpc.unassign_label(iid, key, value)


def _send(client: Any, change: dict[str, str]) -> None:
    iid, key, value = change["incident_id"], change["key"], change["value"]
    if key == TAGS_KEY:
        if change["action"] == "add":
            client.incidents.add_label(iid, value)
        else:
            client.incidents.remove_label(iid, value)
    elif change["action"] == "add":
        client.incidents.assign_label(iid, key, value)
    else:
        client.incidents.unassign_label(iid, key, value)


def _in_place(change: dict[str, str], labels: set[Label]) -> bool:
    return ((change["key"], change["value"]) in labels) == (change["action"] == "add")


class _Run:
    """One apply: the client, the journal, the progress bar and the abort flag shared by workers."""

    def __init__(self, client: Any, journal: Journal | None, bar: Any) -> None:
        self.client = client
        self.journal = journal
        self.bar = bar
        self.lock = threading.Lock()
        self.fatal: IncidentAPIError | None = None
        self.cancelled = threading.Event()
        retry = getattr(client, "retry", None)
        self.max_attempts = 1 + max(0, int(getattr(retry, "max_retries", 4)))

    def finish(self, change: dict[str, str], outcome: Outcome) -> Outcome:
        if self.journal is not None:
            key: ChangeKey = (change["incident_id"], change["key"], change["value"], change["action"])
            self.journal.record(key, status=outcome["status"], attempts=outcome["attempts"], error=outcome["error"])
        with self.lock:
            self.bar.update(1)
        return outcome

    def read(self, incident_id: str) -> set[Label]:
        return read_labels(self.client, incident_id)

    def stop(self, exc: IncidentAPIError) -> None:
        with self.lock:
            if self.fatal is None:
                self.fatal = exc
                logger.error("stopping the label changes: %s", exc)

    def incident(self, incident_id: str, changes: list[dict[str, str]]) -> list[Outcome]:
        """Apply one incident's changes in order; one outcome per change."""
        outcomes: list[Outcome] = []
        labels: set[Label] | None = None
        for change in changes:
            if self.cancelled.is_set():
                break
            if self.fatal is not None:
                outcome = _failed(f"not sent: {self.fatal}", 0)
            else:
                if labels is None:
                    try:
                        labels = self.read(incident_id)
                    except IncidentAPIError as exc:
                        if isinstance(exc, FATAL):
                            self.stop(exc)
                        outcomes.append(self.finish(change, _failed(f"reading the incident's labels failed: {exc}", 0)))
                        continue
                outcome = self.one(change, labels)
            outcomes.append(self.finish(change, outcome))
        return outcomes

    def one(self, change: dict[str, str], labels: set[Label]) -> Outcome:
        """Send one change unless already in place; on an uncertain failure, check before retrying."""
        label = (change["key"], change["value"])
        if _in_place(change, labels):
            where = "present" if change["action"] == "add" else "absent"
            return {"status": "skipped", "error": None, "attempts": 0, "reason": f"already {where} on the server"}
        attempts = 0
        while True:
            attempts += 1
            try:
                _send(self.client, change)
            except UNCERTAIN as exc:
                try:
                    now = self.read(change["incident_id"])
                except IncidentAPIError as read_exc:
                    return _failed(f"{exc}; then checking the incident failed: {read_exc}", attempts)
                labels.clear()
                labels.update(now)
                if _in_place(change, labels):
                    logger.info("%s of %s:%s on incident %s took effect despite: %s",
                                change["action"], *label, change["incident_id"], exc)
                    return {"status": "applied", "error": None, "attempts": attempts}
                if attempts >= self.max_attempts:
                    return _failed(str(exc), attempts)
                logger.info("retrying %s of %s:%s on incident %s after: %s",
                            change["action"], *label, change["incident_id"], exc)
            except IncidentAPIError as exc:
                if isinstance(exc, FATAL):
                    self.stop(exc)
                return _failed(str(exc), attempts)
            else:
                if change["action"] == "add":
                    labels.add(label)
                else:
                    labels.discard(label)
                return {"status": "applied", "error": None, "attempts": attempts}


def _failed(error: str, attempts: int) -> Outcome:
    return {"status": "failed", "error": error, "attempts": attempts}


def apply_label_changes(
    client: Any,
    plan: pd.DataFrame,
    *,
    dry_run: bool = False,
    concurrency: int = 8,
    journal: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> LabelResult:
    """Apply a plan of label changes; returns the plan with ``status``, ``error`` and ``attempts``.

    ``status`` is ``applied``, ``skipped`` (a ``skip`` row, a change already in place on the
    server, or one a journal records as done) or ``failed`` (``error`` says why; the rest of the
    plan still runs). ``attempts`` counts the writes sent for the row (each under the client's own
    retry policy). ``concurrency`` incidents are worked on at once.

    ``dry_run=True`` sends nothing: the result has ``status == "dry_run"`` for each change and the
    ``method`` and ``request`` body that would be sent. With ``journal=PATH`` every outcome is
    appended to that JSON-lines file as it happens; a later call with the same journal skips what
    it records as done, so a killed run re-run with its journal applies each change exactly once.

    >>> result = apply_label_changes(client, plan, journal="merge.jsonl")   # doctest: +SKIP
    >>> result[result.status == "failed"]                                   # doctest: +SKIP
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a whole number >= 1, got {concurrency!r}")
    rows = plan_rows(plan)
    if not dry_run:
        check_client(client)
    checked = pd.DataFrame([change for _, change in rows], index=pd.Index([row for row, _ in rows]))
    if checked.empty:
        checked = pd.DataFrame(columns=["incident_id", "key", "value", "action", "reason"])
    # A dry run only reads the journal; it never creates or appends to it.
    book = Journal(journal) if journal is not None and not dry_run else None
    done = book.done if book is not None else (read_done(journal) if journal is not None else {})
    outcomes: dict[Hashable, Outcome] = {}
    pending: dict[str, list[tuple[Hashable, dict[str, str]]]] = {}
    for row, change in rows:
        key: ChangeKey = (change["incident_id"], change["key"], change["value"], change["action"])
        if change["action"] == "skip":
            outcomes[row] = {"status": "skipped", "error": None, "attempts": 0}
        elif key in done:
            outcomes[row] = {"status": "skipped", "error": None, "attempts": 0, "reason": f"journal: {done[key]}"}
        elif dry_run:
            call = request_for(change)
            outcomes[row] = {
                "status": "dry_run", "error": None, "attempts": 0, "method": call.method, "request": call.body
            }
        else:
            pending.setdefault(change["incident_id"], []).append((row, change))
    total = sum(len(v) for v in pending.values())
    bar = tqdm(total=total, desc="label changes", unit="change", disable=not progress or total == 0)
    try:
        if pending:
            _run_all(_Run(client, book, bar), pending, outcomes, concurrency)
    finally:
        bar.close()
        if book is not None:
            book.close()
    ordered = [outcomes[row] for row, _ in rows]
    reasons = zip(ordered, checked["reason"], strict=True)
    checked["reason"] = [outcome.get("reason", reason) for outcome, reason in reasons]
    result = result_frame(checked, ordered)
    if not dry_run:
        counts = result["status"].value_counts().to_dict()
        if counts.get("applied", 0) == 0 and counts.get("failed", 0) == 0 and len(result):
            logger.info("nothing to change: all %d label changes were already in place", len(result))
        else:
            logger.info("label changes: %s", ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return result


def _run_all(
    run: _Run,
    pending: dict[str, list[tuple[Hashable, dict[str, str]]]],
    outcomes: dict[Hashable, Outcome],
    concurrency: int,
) -> None:
    def work(item: tuple[str, list[tuple[Hashable, dict[str, str]]]]) -> list[tuple[Hashable, Outcome]]:
        incident_id, rows = item
        try:
            got = run.incident(incident_id, [change for _, change in rows])
        except BaseException:
            run.cancelled.set()  # at once, so no other worker starts another change
            raise
        # Shorter than rows only when the run was cancelled, and then the result is not used.
        return [(row, outcome) for (row, _), outcome in zip(rows, got, strict=False)]

    workers = min(concurrency, len(pending))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ia-bulk")
    futures = [pool.submit(work, item) for item in pending.items()]
    try:
        for future in futures:
            outcomes.update(future.result())
    except BaseException:
        # Interrupted (Ctrl-C in a notebook) or a bug: finish the changes in flight, send no more.
        run.cancelled.set()
        pool.shutdown(wait=True, cancel_futures=True)
        logger.warning("label changes interrupted; outcomes so far are in the journal, if one was given")
        raise
    finally:
        pool.shutdown(wait=True)
