"""What both forms share: label parsing and checking, messages, layout and the busy guard."""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as w

from ..client import AsyncIncidentClient

logger = logging.getLogger("incident_analytics")

TAGS_KEY = "tags"
DESCRIPTION_WIDTH = "140px"
FIELD_WIDTH = "520px"
STYLE = {"description_width": DESCRIPTION_WIDTH}


def check_client(client: Any) -> None:
    """Refuse the asyncio client: widget callbacks call the API synchronously."""
    if isinstance(client, AsyncIncidentClient):
        raise TypeError("the forms need the synchronous ia.IncidentClient, not AsyncIncidentClient")


def field_layout(width: str = FIELD_WIDTH) -> w.Layout:
    """The layout every input of a form uses, so labels and inputs line up."""
    return w.Layout(width=width)


def labelled(text: str, *widgets: w.Widget) -> w.HBox:
    """A row with a right-aligned caption in the description column, for widgets without one."""
    caption = w.HTML(
        f'<div style="text-align:right;padding-right:8px">{html.escape(text)}</div>',
        layout=w.Layout(width=DESCRIPTION_WIDTH, min_width=DESCRIPTION_WIDTH),
    )
    return w.HBox([caption, *widgets])


def stack_origin(client: Any) -> str:
    """``https://mystack.grafana.net`` from the client's API base URL (for links to incidents)."""
    base = str(getattr(client, "base_url", ""))
    return base.split("/api/plugins/", 1)[0].rstrip("/")


def incident_link(client: Any, incident: Mapping[str, Any]) -> str:
    """The absolute link to an incident's page (``overviewURL`` is relative on the wire)."""
    url = str(incident.get("overviewURL") or "")
    if url.startswith(("http://", "https://")):
        return url
    return stack_origin(client) + (url if url.startswith("/") else "/" + url) if url else ""


def parse_label(text: str) -> tuple[str, str]:
    """``"team:payments"`` → ``("team", "payments")``; ``"security"`` → ``("tags", "security")``.

    Raises ``ValueError`` for an empty label or a ``key:value`` with an empty side.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"malformed label {text!r}: it is empty")
    key, sep, value = text.strip().partition(":")
    if not sep:
        return TAGS_KEY, text.strip()
    if not key.strip() or not value.strip():
        raise ValueError(f"malformed label {text!r}: use key:value with both sides filled, or plain text")
    key = key.strip()
    return (TAGS_KEY if key.casefold() == TAGS_KEY else key), value.strip()


def check_labels(
    texts: Sequence[str], label_keys: Mapping[str, Sequence[str]]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Parse labels and check keyed ones against the org's label keys; (labels, problems)."""
    labels: list[tuple[str, str]] = []
    problems: list[str] = []
    for text in texts:
        try:
            key, value = parse_label(text)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if key != TAGS_KEY:
            if key not in label_keys:
                known = ", ".join(k for k in label_keys if k != TAGS_KEY) or "none"
                problems.append(f"unknown label key {key!r} in {text!r} (label keys: {known})")
                continue
            if value not in label_keys[key]:
                problems.append(f"unknown value {value!r} for label key {key!r} (values: {', '.join(label_keys[key])})")
                continue
        if (key, value) not in labels:
            labels.append((key, value))
    return labels, problems


def label_text(key: str, value: str) -> str:
    """How a label is shown and typed: ``value`` for free-form, ``key:value`` otherwise."""
    return value if key == TAGS_KEY else f"{key}:{value}"


def suggestions(label_keys: Mapping[str, Sequence[str]]) -> list[str]:
    """Every known label as it would be typed, free-form ones first."""
    tags = list(label_keys.get(TAGS_KEY, ()))
    keyed = [f"{key}:{value}" for key, values in label_keys.items() if key != TAGS_KEY for value in values]
    return sorted(set(tags), key=str.casefold) + keyed


def message_html(kind: str, text: str, *, details: Sequence[str] = (), link: str = "") -> str:
    """An inline message: ``kind`` is ``error``, ``ok`` or ``info``; everything is escaped."""
    colors = {"error": "#c4162a", "ok": "#1a7f37", "info": "#555"}
    parts = [f'<div class="ia-message ia-{kind}" style="color:{colors.get(kind, "#555")}">{html.escape(text)}']
    if link:
        parts.append(f' <a href="{html.escape(link, quote=True)}" target="_blank">{html.escape(link)}</a>')
    if details:
        parts.append("<ul>" + "".join(f"<li>{html.escape(d)}</li>" for d in details) + "</ul>")
    parts.append("</div>")
    return "".join(parts)


class Busy:
    """Disables a button while a request runs and refuses a second submit meanwhile."""

    def __init__(self, button: w.Button) -> None:
        self.button = button
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """Whether a submit is under way."""
        return self._lock.locked()

    @contextmanager
    def hold(self) -> Iterator[bool]:
        """Yields False when another submit is running (then nothing must be sent)."""
        if not self._lock.acquire(blocking=False):
            yield False
            return
        self.button.disabled = True
        try:
            yield True
        finally:
            self.button.disabled = False
            self._lock.release()


class Form:
    """What both forms do alike: a button click runs ``submit`` and reports what it could not, and the
    form displays as its ``widget``."""

    widget: w.Widget
    message: w.HTML
    shown_errors: tuple[type[Exception], ...] = (ValueError,)
    """Exceptions ``submit`` has already shown in the form (a click has nothing to add)."""
    doing: str = "submitting"
    """What a click does, for the message of an unexpected failure ("declaring", "applying")."""

    def submit(self) -> object:
        """Send the form (each form says what that means)."""
        raise NotImplementedError

    def _clicked(self) -> None:
        try:
            self.submit()
        except self.shown_errors:
            pass  # already shown in the form
        except Exception as exc:  # a widget callback has nowhere else to report to
            logger.exception("%s failed", self.doing)
            self.message.value = message_html("error", f"{self.doing.capitalize()} failed: {type(exc).__name__}: {exc}")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
