"""``UpdateIncidentForm``: see an incident and change its title, status, severity, labels and tasks."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd

from ..errors import IncidentAPIError
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
)

PICK_LIMIT = 300
VALUE_NAMES = ("incident_id", "title", "status", "severity", "labels", "tasks_done", "new_task", "note")
OUTCOME_COLUMNS = ["change", "status", "error"]


def _choice(preview: dict[str, Any]) -> str:
    return f"{preview['incidentID']} · {preview.get('title', '')}"


class UpdateIncidentForm(Form):
    """A form to look at one incident and change it; **Apply** sends only what changed.

    Pick the incident in the search box (type part of its title or its ID; the most recent
    incidents are offered) or pass ``incident_id``. The form shows its status, severity, title,
    labels and open tasks; edit any of them, tick open tasks as done, add a task or a note, and
    click **Apply**. Each change is sent on its own and its outcome listed.

    ```python
    form = UpdateIncidentForm(client, incident_id="17")
    form.values = {"status": "resolved", "labels": [*form.values["labels"], "follow-up"]}
    outcomes = form.submit()   # a DataFrame: change, status (applied|failed), error
    ```
    """

    doing = "applying"

    def __init__(self, client: Any, incident_id: str | int | None = None) -> None:
        check_client(client)
        self.client = client
        self.severities = [str(s.get("displayLabel") or "") for s in client.severities.list()]
        self.label_keys = client.fields.label_keys()
        self.incident: dict[str, Any] | None = None
        self._loading = False

        recent = list(client.incidents.query("", max_items=PICK_LIMIT))
        self._choices = {_choice(p): str(p["incidentID"]) for p in recent}
        self.picker = w.Combobox(description="Incident", options=list(self._choices), ensure_option=False,
                                 placeholder="type part of a title or an ID", continuous_update=False,
                                 style=STYLE, layout=field_layout())
        self.load_button = w.Button(description="Show", layout=w.Layout(width="96px"))
        self.summary = w.HTML()
        self.title = w.Text(description="Title", style=STYLE, layout=field_layout())
        self.status = w.ToggleButtons(options=[("Active", "active"), ("Resolved", "resolved")], value="active",
                                      style={"button_width": "190px"})
        self.severity = w.Dropdown(description="Severity", options=self.severities, style=STYLE,
                                   layout=field_layout("300px"))
        self.labels = w.TagsInput(value=[], allow_duplicates=False, layout=field_layout())
        self.tasks_done = w.SelectMultiple(description="Mark done", options=[], rows=4, style=STYLE,
                                           layout=field_layout())
        self.new_task = w.Text(description="New task", placeholder="optional", style=STYLE, layout=field_layout())
        self.note = w.Textarea(description="Note", placeholder="optional, added to the timeline", style=STYLE,
                               layout=field_layout())
        self.apply_button = w.Button(description="Apply", button_style="primary", icon="check", disabled=True)
        self.message = w.HTML()
        self._busy = Busy(self.apply_button)

        self.picker.observe(self._chosen, names="value")
        self.load_button.on_click(lambda _: self._picked())
        self.apply_button.on_click(lambda _: self._clicked())
        self.editor = w.VBox(
            [
                self.title,
                labelled("Status", self.status),
                self.severity,
                labelled("Labels", self.labels),
                self.tasks_done,
                self.new_task,
                self.note,
                labelled("", self.apply_button),
            ]
        )
        self.widget = w.VBox(
            [w.HTML("<h3>Update an incident</h3>"), w.HBox([self.picker, self.load_button]), self.summary,
             self.editor, self.message],
            layout=w.Layout(padding="4px 8px", width="auto"),
        )
        if incident_id is not None:
            self.load(incident_id)

    # -- loading ------------------------------------------------------------------------------------

    def _chosen(self, change: dict[str, Any]) -> None:
        # Picking one of the offered incidents shows it at once; anything typed waits for Show.
        if change["new"] in self._choices and not self._loading:
            self._picked()

    def _picked(self) -> None:
        text = self.picker.value.strip()
        iid = self._choices.get(text) or text.split("·", 1)[0].strip()
        if not iid:
            return
        try:
            self.load(iid)
        except IncidentAPIError as exc:
            self.message.value = message_html("error", f"Cannot show incident {iid}:", details=[str(exc)])

    def load(self, incident_id: str | int) -> dict[str, Any]:
        """Read the incident and fill the form with its current values."""
        incident: dict[str, Any] = self.client.incidents.get(incident_id)
        self.incident = incident
        choice = _choice(incident)
        self._loading = True
        try:
            if choice not in self._choices:
                self._choices[choice] = str(incident["incidentID"])
                self.picker.options = [choice, *self.picker.options]
            self.picker.value = choice
        finally:
            self._loading = False
        self.title.value = incident.get("title", "")
        self.status.value = incident.get("status") or "active"
        severity = incident.get("severity") or incident.get("severityLabel") or ""
        if severity and severity not in self.severity.options:
            self.severity.options = [*self.severity.options, severity]
        self.severity.value = severity or None
        self.labels.value = [label_text(k, v) for k, v in self._current_labels()]
        self.tasks_done.options = [(t.get("text", ""), t["taskID"]) for t in self._open_tasks()]
        self.tasks_done.value = ()
        self.new_task.value = ""
        self.note.value = ""
        self.apply_button.disabled = False
        self.summary.value = self._summary_html()
        return incident

    def _current_labels(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for label in (self.incident or {}).get("labels") or []:
            key = label.get("key") or TAGS_KEY
            key = TAGS_KEY if key.casefold() == TAGS_KEY else key
            value = label.get("label") or label.get("value") or ""
            if value and (key, value) not in out:
                out.append((key, value))
        return out

    def _open_tasks(self) -> list[dict[str, Any]]:
        tasks = ((self.incident or {}).get("taskList") or {}).get("tasks") or []
        return [t for t in tasks if t.get("status") != "done"]

    def _summary_html(self) -> str:
        inc = self.incident or {}
        link = incident_link(self.client, inc)
        labels = ", ".join(label_text(k, v) for k, v in self._current_labels()) or "none"
        tasks = "".join(f"<li>{html.escape(str(t.get('text', '')))} ({html.escape(str(t.get('status')))})</li>"
                        for t in self._open_tasks()) or "<li>none</li>"
        shown_id = html.escape(str(inc.get("incidentID")))
        anchor = f'<a href="{html.escape(link, quote=True)}" target="_blank">{shown_id}</a>' if link else shown_id
        rows = [
            ("Incident", anchor),
            ("Title", html.escape(str(inc.get("title", "")))),
            ("Status", html.escape(str(inc.get("status", "")))),
            ("Severity", html.escape(str(inc.get("severity", "")))),
            ("Labels", html.escape(labels)),
        ]
        table = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return f"<table class='ia-incident'>{table}</table><p>Open tasks:</p><ul>{tasks}</ul>"

    # -- values -------------------------------------------------------------------------------------

    @property
    def values(self) -> dict[str, Any]:
        """The form's current values, by name (see ``VALUE_NAMES``)."""
        return {
            "incident_id": str(self.incident["incidentID"]) if self.incident else None,
            "title": self.title.value,
            "status": self.status.value,
            "severity": self.severity.value,
            "labels": list(self.labels.value),
            "tasks_done": list(self.tasks_done.value),
            "new_task": self.new_task.value,
            "note": self.note.value,
        }

    @values.setter
    def values(self, values: dict[str, Any]) -> None:
        unknown = sorted(set(values) - set(VALUE_NAMES))
        if unknown:
            raise ValueError(f"unknown form value(s) {', '.join(unknown)}; the names are {', '.join(VALUE_NAMES)}")
        if "incident_id" in values:
            self.load(values["incident_id"])
        for name, value in values.items():
            if name == "incident_id":
                continue
            if name == "severity" and value not in self.severity.options:
                raise ValueError(f"unknown severity {value!r}; choose one of {', '.join(self.severities)}")
            if name in ("labels", "tasks_done"):
                value = tuple(value) if name == "tasks_done" else list(value)
            getattr(self, name).value = value

    # -- checking and sending -----------------------------------------------------------------------

    def changes(self) -> list[tuple[str, Callable[[], Any]]]:
        """What Apply would send: (description, call) for each change, in order; nothing is sent.

        Raises ``ValueError`` for a malformed or unknown label or an empty title.
        """
        if self.incident is None:
            raise ValueError("pick an incident first")
        inc, v, iid = self.incident, self.values, str(self.incident["incidentID"])
        problems: list[str] = []
        if not v["title"].strip():
            problems.append("The title must not be empty.")
        wanted, label_problems = check_labels(v["labels"], self.label_keys)
        problems += label_problems
        if problems:
            raise ValueError(" ".join(problems))
        c = self.client
        out: list[tuple[str, Callable[[], Any]]] = []
        if v["title"].strip() != inc.get("title", ""):
            out.append((f"title → {v['title'].strip()!r}", lambda: c.incidents.update_title(iid, v["title"].strip())))
        if v["severity"] and v["severity"] != (inc.get("severity") or ""):
            out.append((f"severity → {v['severity']}", lambda: c.incidents.update_severity(iid, v["severity"])))
        have = self._current_labels()
        for key, value in wanted:
            if (key, value) not in have:
                text = label_text(key, value)
                call = (lambda k=key, x=value: c.incidents.assign_label(iid, k, x)) if key != TAGS_KEY else (
                    lambda x=value: c.incidents.add_label(iid, x))
                out.append((f"add label {text}", call))
        for key, value in have:
            if (key, value) not in wanted:
                text = label_text(key, value)
                call = (lambda k=key, x=value: c.incidents.unassign_label(iid, k, x)) if key != TAGS_KEY else (
                    lambda x=value: c.incidents.remove_label(iid, x))
                out.append((f"remove label {text}", call))
        texts = {t["taskID"]: t.get("text", "") for t in self._open_tasks()}
        for task_id in v["tasks_done"]:
            out.append((f"task done: {texts.get(task_id, task_id)}", self._task_done(iid, str(task_id))))
        if v["new_task"].strip():
            out.append((f"add task {v['new_task'].strip()!r}", lambda: c.tasks.add(iid, v["new_task"].strip())))
        if v["note"].strip():
            out.append(("add note", lambda: c.activity.add_note(iid, v["note"].strip())))
        # The status last: resolving first would close the incident before its other changes land.
        if v["status"] != inc.get("status"):
            out.append((f"status → {v['status']}", lambda: c.incidents.update_status(iid, v["status"])))
        return out

    def _task_done(self, incident_id: str, task_id: str) -> Callable[[], Any]:
        return lambda: self.client.tasks.update_status(incident_id, task_id, "done")

    def submit(self) -> pd.DataFrame | None:
        """Send what changed; returns one row per change (``change, status, error``).

        Returns None when an apply is already running. Raises ``ValueError`` (also shown) for
        invalid input, before anything is sent. A failed change does not stop the others.
        """
        with self._busy.hold() as free:
            if not free:
                self.message.value = message_html("info", "Changes are already being sent.")
                return None
            try:
                todo = self.changes()
            except ValueError as exc:
                self.message.value = message_html("error", "Nothing was sent:", details=[str(exc)])
                raise
            rows: list[dict[str, Any]] = []
            for description, call in todo:
                try:
                    call()
                    rows.append({"change": description, "status": "applied", "error": None})
                except IncidentAPIError as exc:
                    rows.append({"change": description, "status": "failed", "error": str(exc)})
            outcomes = pd.DataFrame(rows, columns=OUTCOME_COLUMNS)
            iid = str(self.incident["incidentID"]) if self.incident else ""
            self.load(iid)
            if not rows:
                self.message.value = message_html("info", "Nothing changed, so nothing was sent.")
            else:
                failed = [f"{r['change']}: {r['error']}" for r in rows if r["status"] == "failed"]
                done = [r["change"] for r in rows if r["status"] == "applied"]
                if failed:
                    self.message.value = message_html(
                        "error", f"{len(done)} change(s) applied, {len(failed)} failed:", details=failed + done
                    )
                else:
                    self.message.value = message_html("ok", f"{len(done)} change(s) applied:", details=done)
            return outcomes

    # -- display ------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        loaded = self.incident["incidentID"] if self.incident else None
        return f"UpdateIncidentForm(client={self.client!r}, incident_id={loaded!r})"
