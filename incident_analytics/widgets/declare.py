"""``DeclareIncidentForm``: declare an incident from a notebook or a Voilà page."""

from __future__ import annotations

import logging
from typing import Any

import ipywidgets as w

from .. import rpc
from ..errors import IncidentAPIError, OutcomeUnknownError
from .common import (
    STYLE,
    TAGS_KEY,
    Busy,
    Form,
    check_client,
    check_labels,
    field_layout,
    incident_link,
    label_text,
    labelled,
    message_html,
    suggestions,
)

logger = logging.getLogger("incident_analytics")

VALUE_NAMES = (
    "title", "severity", "labels", "status", "is_drill", "room_prefix", "link_url", "link_caption", "status_update"
)


class DeclareIncidentForm(Form):
    """A form to declare an incident: title, severity, labels, status, drill, room prefix, link, update.

    The severities and label suggestions are read from the API when the form is built. **Declare**
    checks the input first (an empty title, an unknown severity or a malformed or unknown label is
    shown inline and nothing is sent), then creates the incident, assigns its ``key:value`` labels
    and shows its ID and link. The button is disabled while the request runs; afterwards the
    title, labels, link and update are cleared, so a second click cannot declare it twice.

    ```python
    form = DeclareIncidentForm(client)
    form                                # renders in JupyterLab and Voilà
    form.values = {"title": "Checkout errors", "severity": "Major", "labels": ["team:payments"]}
    incident = form.submit()            # the same as clicking Declare, from code
    ```
    """

    shown_errors = (ValueError, IncidentAPIError)
    doing = "declaring"

    def __init__(self, client: Any) -> None:
        check_client(client)
        self.client = client
        # Most severe first (level 1); Pending (level 0, not yet assessed) last.
        severities = sorted(client.severities.list(), key=lambda s: ((s.get("level") or 0) == 0, s.get("level") or 0))
        self.severities = [str(s.get("displayLabel") or s.get("label") or "") for s in severities]
        self.label_keys = client.fields.label_keys()
        self.incident: dict[str, Any] | None = None

        self.title = w.Text(description="Title", placeholder="What is happening? (required)",
                            style=STYLE, layout=field_layout())
        self.severity = w.Combobox(description="Severity", options=self.severities, ensure_option=False,
                                   placeholder="Pending (not yet assessed)", style=STYLE, layout=field_layout())
        self.label_picker = w.Combobox(description="Add a label", options=suggestions(self.label_keys),
                                       ensure_option=False, placeholder="security or team:payments",
                                       style=STYLE, layout=field_layout("420px"))
        self.add_label_button = w.Button(description="Add", layout=w.Layout(width="96px"))
        self.labels = w.TagsInput(value=[], allow_duplicates=False, layout=field_layout())
        self.status = w.ToggleButtons(options=[("Active", "active"), ("Resolved (retrospective)", "resolved")],
                                      value="active", style={"button_width": "190px"})
        self.is_drill = w.Checkbox(value=False, description="Drill (an exercise, left out of metrics)",
                                   indent=False)
        self.room_prefix = w.Text(description="Room prefix", placeholder="incident", style=STYLE,
                                  layout=field_layout())
        self.link_url = w.Text(description="Link", placeholder="https://… (optional)", style=STYLE,
                               layout=field_layout())
        self.link_caption = w.Text(description="Link caption", placeholder="Dashboard", style=STYLE,
                                   layout=field_layout())
        self.status_update = w.Textarea(description="Status update", placeholder="First update (optional)",
                                        style=STYLE, layout=field_layout())
        self.declare_button = w.Button(description="Declare", button_style="danger", icon="bullhorn")
        self.message = w.HTML()
        self._busy = Busy(self.declare_button)

        self.add_label_button.on_click(lambda _: self._pick_label())
        self.declare_button.on_click(lambda _: self._clicked())
        self.widget = w.VBox(
            [
                w.HTML("<h3>Declare an incident</h3>"),
                self.title,
                self.severity,
                w.HBox([self.label_picker, self.add_label_button]),
                labelled("Labels", self.labels),
                labelled("Status", self.status),
                labelled("", self.is_drill),
                self.room_prefix,
                self.link_url,
                self.link_caption,
                self.status_update,
                labelled("", self.declare_button),
                self.message,
            ],
            layout=w.Layout(padding="4px 8px", width="auto"),
        )

    # -- values -----------------------------------------------------------------------------------

    @property
    def values(self) -> dict[str, Any]:
        """The form's current values, by name (see ``VALUE_NAMES``)."""
        return {
            "title": self.title.value,
            "severity": self.severity.value,
            "labels": list(self.labels.value),
            "status": self.status.value,
            "is_drill": bool(self.is_drill.value),
            "room_prefix": self.room_prefix.value,
            "link_url": self.link_url.value,
            "link_caption": self.link_caption.value,
            "status_update": self.status_update.value,
        }

    @values.setter
    def values(self, values: dict[str, Any]) -> None:
        unknown = sorted(set(values) - set(VALUE_NAMES))
        if unknown:
            raise ValueError(f"unknown form value(s) {', '.join(unknown)}; the names are {', '.join(VALUE_NAMES)}")
        for name, value in values.items():
            getattr(self, name).value = list(value) if name == "labels" else value

    def _pick_label(self) -> None:
        text = self.label_picker.value.strip()
        if text and text not in self.labels.value:
            self.labels.value = [*self.labels.value, text]
        self.label_picker.value = ""

    # -- checking and sending -----------------------------------------------------------------------

    def validate(self) -> list[str]:
        """The problems that keep the form from being sent (empty when it can be sent)."""
        v = self.values
        problems: list[str] = []
        if not v["title"].strip():
            problems.append("The title is required.")
        severity = v["severity"].strip()
        if severity and severity.casefold() not in {s.casefold() for s in self.severities}:
            problems.append(f"Unknown severity {severity!r}; choose one of {', '.join(self.severities)}.")
        problems += check_labels(v["labels"], self.label_keys)[1]
        url = v["link_url"].strip()
        if url and not url.startswith(("http://", "https://")):
            problems.append(f"The link {url!r} must start with http:// or https://.")
        if v["link_caption"].strip() and not url:
            problems.append("A link caption needs a link.")
        return problems

    def _severity(self) -> str | None:
        typed = self.severity.value.strip()
        return next((s for s in self.severities if s.casefold() == typed.casefold()), None) if typed else None

    def submit(self) -> dict[str, Any] | None:
        """Check, then declare; returns the new incident, or None when a submit is already running.

        Raises ``ValueError`` (also shown in the form) when the input is invalid, and the API's
        error (also shown) when the request fails. Nothing is sent for invalid input.
        """
        with self._busy.hold() as free:
            if not free:
                self.message.value = message_html("info", "A declaration is already being sent.")
                return None
            problems = self.validate()
            if problems:
                self.message.value = message_html("error", "Nothing was sent:", details=problems)
                raise ValueError("cannot declare: " + " ".join(problems))
            self.message.value = message_html("info", "Declaring…")
            try:
                incident = self._declare()
            except OutcomeUnknownError as exc:
                self.message.value = message_html(
                    "error",
                    "The declaration may or may not have reached Grafana. Look for it among recent "
                    "incidents before declaring again.",
                    details=[str(exc)],
                )
                raise
            except IncidentAPIError as exc:
                self.message.value = message_html("error", "Grafana refused the declaration:", details=[str(exc)])
                raise
            self.incident = incident
            # Cleared, so another click cannot declare the same incident twice by accident.
            for field in (self.title, self.link_url, self.link_caption, self.status_update):
                field.value = ""
            self.labels.value = []
            return incident

    def _declare(self) -> dict[str, Any]:
        v = self.values
        labels = check_labels(v["labels"], self.label_keys)[0]
        tags = [value for key, value in labels if key == TAGS_KEY]
        call = rpc.create_incident(
            v["title"].strip(),
            severity=self._severity(),
            labels=tags,
            status=v["status"],
            is_drill=v["is_drill"],
            room_prefix=v["room_prefix"].strip() or None,
            initial_status_update=v["status_update"].strip() or None,
        )
        body = dict(call.body)
        if v["link_url"].strip():
            body["attachURL"] = v["link_url"].strip()
            body["attachCaption"] = v["link_caption"].strip()
        incident = call.parse(self.client.call(call.method, body))
        iid = str(incident["incidentID"])
        failed: list[str] = []
        for key, value in labels:
            if key == TAGS_KEY:
                continue
            try:
                self.client.incidents.assign_label(iid, key, value)
            except IncidentAPIError as exc:
                failed.append(f"label {label_text(key, value)}: {exc}")
        link = incident_link(self.client, incident)
        text = f"Declared incident {iid}: {incident.get('title', '')}"
        if failed:
            self.message.value = message_html("error", text + ", but some labels were not set:", details=failed,
                                              link=link)
        else:
            self.message.value = message_html("ok", text, link=link)
        logger.info("declared incident %s", iid)
        return dict(incident)

    # -- display ------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"DeclareIncidentForm(client={self.client!r})"
