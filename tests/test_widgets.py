"""The forms, driven through their widgets (set values, click) against the emulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pandas as pd
import pytest

import incident_analytics as ia
from incident_analytics.emulator import Emulator
from incident_analytics.emulator.model import Incident
from incident_analytics.widgets import DeclareIncidentForm, UpdateIncidentForm


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=4, incidents=40) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[ia.IncidentClient]:
    with ia.IncidentClient(emu.url, emu.token) as c:
        yield c


def _by_title(emu: Emulator, title: str) -> list[Incident]:
    with emu.state.lock:
        return [i for i in emu.state.incidents.values() if i.title == title]


def _creates(emu: Emulator) -> list[object]:
    return [r for r in emu.requests if r.method == "IncidentsService.CreateIncident"]


def _labels(emu: Emulator, incident: Incident) -> set[tuple[str, str]]:
    with emu.state.lock:
        return {(label.key, label.text) for label in incident.labels}


# -- declaring --------------------------------------------------------------------------------------


def test_declare_by_clicking_creates_the_incident_with_everything_filled(
    emu: Emulator, client: ia.IncidentClient
) -> None:
    form = DeclareIncidentForm(client)
    assert "Major" in form.severity.options and form.severity.options[-1] == "Pending"
    assert "team:payments" in form.label_picker.options and "security" in form.label_picker.options
    form.title.value = "Checkout returns 502"
    form.severity.value = "Major"
    form.label_picker.value = "team:payments"
    form.add_label_button.click()
    form.labels.value = [*form.labels.value, "security", "checkout-flaky"]
    form.is_drill.value = True
    form.room_prefix.value = "inc"
    form.link_url.value = "https://grafana.example/d/checkout"
    form.link_caption.value = "Checkout dashboard"
    form.status_update.value = "Investigating elevated 502s."
    form.declare_button.click()

    [incident] = _by_title(emu, "Checkout returns 502")
    assert emu.state.severity_label(incident) == "Major"
    assert incident.is_drill and incident.status == "active"
    assert _labels(emu, incident) == {("team", "payments"), ("tags", "security"), ("tags", "checkout-flaky")}
    [create] = _creates(emu)
    assert create.body["attachURL"] == "https://grafana.example/d/checkout"  # type: ignore[attr-defined]
    assert create.body["attachCaption"] == "Checkout dashboard"  # type: ignore[attr-defined]
    assert create.body["initialStatusUpdate"] == "Investigating elevated 502s."  # type: ignore[attr-defined]
    assert create.body["roomPrefix"] == "inc"  # type: ignore[attr-defined]
    assert f"Declared incident {incident.incident_id}" in form.message.value
    assert emu.url in form.message.value and "/incidents/" in form.message.value  # the link
    assert form.incident is not None and form.incident["incidentID"] == incident.incident_id
    assert not form.declare_button.disabled
    assert form.values["title"] == "" and form.values["labels"] == []  # cleared after declaring
    emu.reset_requests()
    form.declare_button.click()  # an accidental second click
    assert emu.requests == [] and "The title is required." in form.message.value


def test_a_retrospective_is_declared_resolved(emu: Emulator, client: ia.IncidentClient) -> None:
    form = DeclareIncidentForm(client)
    form.values = {"title": "Yesterday's DNS blip", "status": "resolved"}
    incident = form.submit()
    assert incident is not None and incident["status"] == "resolved"
    [stored] = _by_title(emu, "Yesterday's DNS blip")
    assert stored.status == "resolved"


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ({"title": "   "}, "The title is required."),
        ({"title": "x", "severity": "Sev0"}, "Unknown severity &#x27;Sev0&#x27;"),
        ({"title": "x", "labels": ["team:"]}, "malformed label &#x27;team:&#x27;"),
        ({"title": "x", "labels": [":payments"]}, "malformed label"),
        ({"title": "x", "labels": ["squad:payments"]}, "unknown label key &#x27;squad&#x27;"),
        ({"title": "x", "labels": ["team:marketing"]}, "unknown value &#x27;marketing&#x27;"),
        ({"title": "x", "link_url": "grafana.example"}, "must start with http"),
        ({"title": "x", "link_caption": "Dashboard"}, "A link caption needs a link."),
    ],
)
def test_invalid_input_shows_an_inline_message_and_sends_nothing(
    emu: Emulator, client: ia.IncidentClient, values: dict[str, object], shown: str
) -> None:
    form = DeclareIncidentForm(client)
    form.values = values
    emu.reset_requests()
    form.declare_button.click()
    assert shown in form.message.value
    assert "Nothing was sent" in form.message.value
    assert emu.requests == []
    with pytest.raises(ValueError, match="cannot declare"):
        form.submit()


def test_the_button_is_disabled_while_declaring_and_a_second_click_sends_nothing(
    emu: Emulator, client: ia.IncidentClient
) -> None:
    form = DeclareIncidentForm(client)
    form.title.value = "Slow declaration"
    emu.latency = 0.6
    emu.reset_requests()
    clicking = threading.Thread(target=form.declare_button.click)
    clicking.start()
    deadline = time.monotonic() + 5
    while not form.declare_button.disabled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert form.declare_button.disabled
    form.declare_button.click()  # a double submit while the first runs
    assert "already being sent" in form.message.value
    clicking.join()
    emu.latency = 0
    assert not form.declare_button.disabled
    assert len(_creates(emu)) == 1 and len(_by_title(emu, "Slow declaration")) == 1


@pytest.mark.parametrize(("fault", "shown"), [("500", "HTTP 500"), ("drop", "may or may not have reached")])
def test_api_errors_appear_in_the_form_without_the_token(
    emu: Emulator, client: ia.IncidentClient, fault: str, shown: str
) -> None:
    form = DeclareIncidentForm(client)
    form.title.value = "Faulty declaration"
    emu.inject(fault, method="IncidentsService.CreateIncident")
    form.declare_button.click()
    assert shown in form.message.value
    assert emu.token not in form.message.value
    assert not form.declare_button.disabled
    assert len(_creates(emu)) == 1, "a create whose outcome is unknown is not retried"


def test_the_form_renders_as_one_widget_and_its_values_round_trip(client: ia.IncidentClient) -> None:
    form = DeclareIncidentForm(client)
    bundle = form._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    form.values = {"title": "t", "labels": ["security"], "is_drill": True}
    assert form.values["title"] == "t" and form.values["labels"] == ["security"] and form.values["is_drill"]
    with pytest.raises(ValueError, match="unknown form value"):
        form.values = {"titel": "typo"}
    assert "***" in repr(form) and client.base_url in repr(form)


async def test_the_forms_refuse_the_async_client(emu: Emulator) -> None:
    async with ia.AsyncIncidentClient(emu.url, emu.token) as aclient:
        for form in (DeclareIncidentForm, UpdateIncidentForm):
            with pytest.raises(TypeError, match=r"synchronous ia\.IncidentClient"):
                form(aclient)


# -- updating ---------------------------------------------------------------------------------------


def _with_open_task(emu: Emulator, client: ia.IncidentClient) -> str:
    incident = client.incidents.create("Queue backlog in indexer", severity="Minor", labels=["database"])
    iid = str(incident["incidentID"])
    client.incidents.assign_label(iid, "team", "search")
    client.tasks.add(iid, "Drain the queue")
    return iid


def test_update_applies_each_change_and_reports_its_outcome(emu: Emulator, client: ia.IncidentClient) -> None:
    iid = _with_open_task(emu, client)
    form = UpdateIncidentForm(client, incident_id=iid)
    assert form.title.value == "Queue backlog in indexer" and form.severity.value == "Minor"
    assert set(form.labels.value) == {"database", "team:search"}
    assert "Drain the queue" in form.summary.value and "Open tasks" in form.summary.value
    task_id = dict(form.tasks_done.options)["Drain the queue"]

    form.title.value = "Queue backlog in indexer (mitigated)"
    form.severity.value = "Major"
    form.labels.value = ["team:search", "region:eu-west", "follow-up"]  # drop database, add two
    form.tasks_done.value = (task_id,)
    form.new_task.value = "Write the PIR"
    form.note.value = "Scaled the consumers."
    form.status.value = "resolved"
    form.apply_button.click()

    with emu.state.lock:
        stored = emu.state.incidents[iid]
        assert stored.title == "Queue backlog in indexer (mitigated)"
        assert emu.state.severity_label(stored) == "Major"
        assert stored.status == "resolved"
        tasks = {t.text: t.status for t in stored.tasks}
        notes = [a.body for a in stored.activity if a.kind == "userNote"]
    assert _labels(emu, stored) == {("team", "search"), ("region", "eu-west"), ("tags", "follow-up")}
    assert tasks["Drain the queue"] == "done" and tasks["Write the PIR"] == "todo"
    assert "Scaled the consumers." in notes
    assert "9 change(s) applied" in form.message.value  # title, severity, 3 labels, 2 tasks, note, status
    assert form.values["title"] == "Queue backlog in indexer (mitigated)"  # reloaded from the server


def test_apply_sends_only_what_changed(emu: Emulator, client: ia.IncidentClient) -> None:
    iid = _with_open_task(emu, client)
    form = UpdateIncidentForm(client, incident_id=iid)
    emu.reset_requests()
    outcomes = form.submit()
    assert isinstance(outcomes, pd.DataFrame) and outcomes.empty
    assert [r.method for r in emu.requests] == ["IncidentsService.GetIncident"]  # the reload only
    assert "Nothing changed" in form.message.value
    form.title.value = "Renamed"
    emu.reset_requests()
    outcomes = form.submit()
    assert outcomes is not None and outcomes["change"].tolist() == ["title → 'Renamed'"]
    assert [r.method for r in emu.requests] == ["IncidentsService.UpdateTitle", "IncidentsService.GetIncident"]


def test_a_failed_change_is_reported_and_the_others_still_apply(emu: Emulator, client: ia.IncidentClient) -> None:
    iid = _with_open_task(emu, client)
    form = UpdateIncidentForm(client, incident_id=iid)
    form.title.value = "Title that fails"
    form.note.value = "A note that lands"
    emu.inject("400", method="IncidentsService.UpdateTitle")
    outcomes = form.submit()
    assert outcomes is not None
    status = dict(zip(outcomes["change"], outcomes["status"], strict=True))
    assert status == {"title → 'Title that fails'": "failed", "add note": "applied"}
    assert "1 failed" in form.message.value and emu.token not in form.message.value


def test_update_refuses_bad_labels_before_sending(emu: Emulator, client: ia.IncidentClient) -> None:
    form = UpdateIncidentForm(client, incident_id="3")
    form.labels.value = [*form.labels.value, "team:"]
    emu.reset_requests()
    form.apply_button.click()
    assert "malformed label" in form.message.value and emu.requests == []


def test_pick_an_incident_by_title(emu: Emulator, client: ia.IncidentClient) -> None:
    form = UpdateIncidentForm(client)
    assert form.apply_button.disabled, "nothing to apply before an incident is picked"
    with emu.state.lock:
        target = emu.state.incidents["5"]
    choice = next(o for o in form.picker.options if o.endswith(target.title) and o.startswith("5 "))
    form.picker.value = choice
    form.load_button.click()
    assert form.values["incident_id"] == "5" and form.title.value == target.title
    form.picker.value = "99999"
    form.load_button.click()
    assert "Cannot show incident 99999" in form.message.value
    with pytest.raises(ValueError, match="unknown severity"):
        form.values = {"severity": "Sev0"}
