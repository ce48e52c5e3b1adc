"""Postmortem drafts and period reviews: content, escaping, self-containment, the files and the CLI."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

import incident_analytics as ia
from incident_analytics import report
from incident_analytics.cli import main
from incident_analytics.emulator import Emulator
from tests.conftest import DemoScenario

HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_NOTE = 'Rollback done <img src=x onerror="alert(2)"> | *not bold* [link](http://evil.example)\nsecond line'


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=3, incidents=120) as emu:
        yield emu


@pytest.fixture(scope="module")
def data(emulator: Emulator) -> ia.IncidentData:
    with ia.IncidentClient(emulator.url, emulator.token) as client:
        return ia.fetch(client, progress=False)


@pytest.fixture(scope="module")
def hostile(emulator: Emulator) -> str:
    """An incident whose title, label and note look like HTML and Markdown."""
    with ia.IncidentClient(emulator.url, emulator.token) as client:
        created = client.incidents.create(HOSTILE_TITLE, severity="Major", labels=["<b>bold</b>"])
        iid = str(created["incidentID"])
        client.activity.add_note(iid, HOSTILE_NOTE)
    return iid


@pytest.fixture(scope="module")
def review_html(data: ia.IncidentData) -> str:
    """The whole period's review, rendered once for the tests that read it."""
    return report.review(data, as_of=data.fetched_at)


@pytest.fixture(scope="module")
def review_md(data: ia.IncidentData) -> str:
    return report.review(data, format="markdown", as_of=data.fetched_at)


def _resolved_id(data: ia.IncidentData) -> str:
    """The resolved incident with the longest timeline (notes, and runs of automatic items to fold)."""
    resolved = set(data.incidents.loc[data.incidents["status"] == "resolved", "incident_id"])
    sizes = data.activity[data.activity["incident_id"].isin(resolved)].groupby("incident_id", observed=True).size()
    return str(sizes.sort_values(ascending=False, kind="stable").index[0])


def _open_id(data: ia.IncidentData) -> str:
    return str(data.incidents.loc[data.incidents["status"] == "active", "incident_id"].iloc[0])


class _Links(HTMLParser):
    """Every URL-bearing attribute, every h1/h2 text, and every img."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.headings: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "poster", "data") and value is not None:
                self.urls.append((tag, name, value))
        if tag == "img":
            self.images.append(dict(attrs))
        if tag in ("h1", "h2"):
            self._in = tag
            self.headings.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.headings[-1] += data


def parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def assert_self_contained(html: str, incident_link: str | None = None) -> _Links:
    """No src/href to another host, every image embedded, nothing loaded from CSS either; the only
    link out may be ``incident_link`` (a prefix: the incident's page on the stack)."""
    parsed = parse(html)
    for tag, name, value in parsed.urls:
        if name == "src":
            assert value.startswith("data:image/"), f"<{tag} {name}> loads {value[:60]!r}"
        else:
            to_incident = incident_link is not None and value.startswith(incident_link)
            assert value.startswith("#") or to_incident, f"<{tag} {name}> points to {value!r}"
    assert "@import" not in html and not re.search(r"url\(\s*['\"]?(?!data:)", html)
    assert "<script" not in html.lower()
    return parsed


# --------------------------------------------------------------------------------------------------
# Postmortem.


def test_postmortem_from_a_client_fetches_just_that_incident(emulator: Emulator, data: ia.IncidentData) -> None:
    iid = _resolved_id(data)
    emulator.reset_requests()
    with ia.IncidentClient(emulator.url, emulator.token) as client:
        html = report.postmortem(client, iid, format="html")
    methods = {r.method for r in emulator.requests}
    assert methods == {"IncidentsService.GetIncident", "ActivityService.QueryActivity"}
    assert [r.body.get("incidentID") or r.body["query"]["incidentID"] for r in emulator.requests] == [iid] * len(
        emulator.requests
    )
    parsed = parse(html)
    row = data.incidents.set_index("incident_id").loc[iid]
    assert parsed.headings[0] == row["title"]
    assert [h for h in parsed.headings[1:]] == [s.title for s in report.POSTMORTEM_SECTIONS]
    # The link points at the incident on the stack the client talks to.
    assert f'href="{emulator.url}{row["overview_url"]}"' in html
    assert "DRAFT" not in html


def test_postmortem_states_header_key_times_people_timeline_and_tasks(data: ia.IncidentData) -> None:
    iid = _resolved_id(data)
    md = report.postmortem(data, iid)
    row = data.incidents.set_index("incident_id").loc[iid]
    for fact in ("Incident ID:", "Severity:", "Status:", "Drill:", "Labels:", "Declared by:", "Declared at:"):
        assert fact in md
    assert str(row["created_by_name"]) in md and str(row["severity"]) in md
    for label in data.labels.loc[data.labels["incident_id"] == iid, "value"]:
        assert str(label) in md
    for name in ("Time to resolve", "Time to first response", "Time to commander", r"incident\_start", r"closed\_time"):
        assert name in md
    for person in data.assignments.loc[data.assignments["incident_id"] == iid, "user_name"]:
        assert str(person) in md
    activity = data.activity[data.activity["incident_id"] == iid]
    for note in activity.loc[activity["activity_kind"] == "userNote", "body"]:
        assert str(note).replace(".", "").split()[0] in md  # notes are shown (escaped) in full
    assert "automatic updates" in md  # runs of bookkeeping items are folded
    for task in data.tasks.loc[data.tasks["incident_id"] == iid, "text"]:
        assert str(task) in md
    assert "All times UTC" in md
    # The human parts are blanks with a prompt each.
    blanks = [s for s in report.POSTMORTEM_SECTIONS if s.prompt]
    assert [s.title for s in blanks] == [
        "Impact",
        "Contributing factors",
        "What went well",
        "What went badly",
        "Where we got lucky",
        "Action items",
    ]
    for section in blanks:
        assert f"## {section.title}\n\n_{section.prompt}_\n\n> **[To be written]**" in md
    assert md.count("data:image/png;base64,") == 1  # the incident_timeline chart


def test_postmortem_of_an_open_incident_is_a_draft(data: ia.IncidentData) -> None:
    html = report.postmortem(data, _open_id(data), format="html")
    assert "DRAFT: this incident was still open" in html
    assert "Open for (so far)" in html


def test_postmortem_escapes_html_like_text_from_the_api(emulator: Emulator, hostile: str) -> None:
    with ia.IncidentClient(emulator.url, emulator.token) as client:
        html = report.postmortem(client, hostile, format="html")
        md = report.postmortem(client, hostile, format="markdown")
    assert HOSTILE_TITLE not in html and "<img src=x" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert parse(html).headings[0] == HOSTILE_TITLE  # shown as text
    assert_self_contained(html, incident_link=f"{emulator.url}/a/grafana-irm-app/incidents/{hostile}/")
    # Markdown renderers pass raw HTML through: it must be escaped there too, and Markdown syntax as well.
    prose = re.sub(r"`[^`]*`", "", md)  # code spans show their content literally
    assert "`<b>bold</b>`" in md
    assert "<script>" not in prose and "<img" not in prose and "<b>" not in prose
    assert "# &lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert r"\*not bold\*" in md and r"\[link\]" in md and r"\|" in md
    assert "  > second line" in md  # a note keeps its lines


def test_reports_are_self_contained_and_carry_no_token(
    emulator: Emulator, data: ia.IncidentData, review_html: str, review_md: str
) -> None:
    iid = _resolved_id(data)
    with ia.IncidentClient(emulator.url, emulator.token) as client:
        postmortem = report.postmortem(client, iid, format="html")
    link = f"{emulator.url}{data.incidents.set_index('incident_id').loc[iid, 'overview_url']}"
    parsed = assert_self_contained(postmortem, incident_link=link)
    assert parsed.images and all(str(i["src"]).startswith("data:image/png;base64,") for i in parsed.images)
    parsed = assert_self_contained(review_html)
    assert len(parsed.images) >= 5
    for text in (postmortem, review_html, report.postmortem(data, iid), review_md):
        assert emulator.token not in text
        assert "Bearer" not in text


def test_postmortem_from_data_needs_no_network_and_names_a_missing_id(data: ia.IncidentData) -> None:
    with pytest.raises(ValueError, match=r"incident '99999' is not in the data"):
        report.postmortem(data, "99999")
    with pytest.raises(ValueError, match="incident_id"):
        report.postmortem(data, "")
    with pytest.raises(ValueError, match="format"):
        report.postmortem(data, _resolved_id(data), format="pdf")


def test_write_postmortem_picks_the_format_from_the_suffix(tmp_path: Path, data: ia.IncidentData) -> None:
    iid = _resolved_id(data)
    html = report.write_postmortem(data, iid, tmp_path / "pm.html").read_text()
    md = report.write_postmortem(data, iid, tmp_path / "sub" / "pm.md").read_text()
    assert html.startswith("<!doctype html>") and md.startswith("# ")
    with pytest.raises(ValueError, match=r"\.html or \.md"):
        report.write_postmortem(data, iid, tmp_path / "pm.pdf")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["pm.html", "pm.md"]


# --------------------------------------------------------------------------------------------------
# Review.


def test_review_has_every_section_with_numbers_charts_and_methods(
    data: ia.IncidentData, review_html: str, review_md: str
) -> None:
    html = review_html
    parsed = parse(html)
    assert parsed.headings[1:] == [s.title for s in report.REVIEW_SECTIONS]
    assert "Kaplan-Meier" in html and "90% CI of median" in html
    assert "previous period" in html
    counted = data.incidents[~data.incidents["is_drill"].fillna(False)]
    assert f"<dt>Incidents declared (drills excluded)</dt><dd>{len(counted):,}</dd>" in html
    for term in ("Start of impact", "End of impact", "Open incidents", "Time to first response", "Workload"):
        assert f"<dt>{term}</dt>" in html
    for section in report.REVIEW_SECTIONS:
        assert f"\n## {section.title}\n" in review_md


def test_review_of_a_period_counts_only_its_incidents(tmp_path: Path, data: ia.IncidentData) -> None:
    created = data.incidents["created_time"]
    since = created.min() + (created.max() - created.min()) / 2
    until = created.max()
    path = report.write_review(data, tmp_path / "review.md", since=since, until=until, as_of=data.fetched_at)
    md = path.read_text()
    assert md.startswith(f"# Incidents from {since:%Y-%m-%d} to {until:%Y-%m-%d}")
    inside = ((created >= since) & (created < until)).sum()
    assert f"- **Incidents declared (drills excluded):** {inside:,}\n" in md
    before = ((created >= since - (until - since)) & (created < since)).sum()
    assert f"- **Incidents in the previous period of equal length:** {before:,}\n" in md
    with pytest.raises(ValueError, match="since"):
        report.review(data, since=until, until=since)


def test_open_incidents_are_listed_oldest_first(data: ia.IncidentData, review_md: str) -> None:
    section = review_md.split("## Open incidents")[1].split("\n## ")[0]
    open_ = data.incidents[(data.incidents["status"] == "active") & ~data.incidents["is_drill"].fillna(False)]
    starts = open_["incident_start"].fillna(open_["created_time"])
    expected = open_.assign(s=starts).sort_values("s")["incident_id"].tolist()
    listed = re.findall(r"^\| (\d+) \|", section, flags=re.M)
    assert listed == expected and expected


# --------------------------------------------------------------------------------------------------
# Command line.


def test_cli_report_postmortem_and_review(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: Emulator, data: ia.IncidentData
) -> None:
    monkeypatch.setenv("GRAFANA_URL", emulator.url)
    monkeypatch.setenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", emulator.token)
    iid = _resolved_id(data)
    out = io.StringIO()
    assert main(["report", "postmortem", iid, "--out", str(tmp_path / "pm.md")], out=out) == 0
    assert (tmp_path / "pm.md").read_text().startswith("# ")
    assert str((tmp_path / "pm.md").resolve()) in out.getvalue()

    store = data.to_parquet(tmp_path / "store")
    out = io.StringIO()
    code = main(
        ["report", "review", "--store", str(store), "--since", "2026-01-01", "--out", str(tmp_path / "r.html")], out=out
    )
    assert code == 0 and "Wrote the review" in out.getvalue()
    assert "Incidents from 2026-01-01" in (tmp_path / "r.html").read_text()

    monkeypatch.chdir(tmp_path)
    assert main(["report", "review", "--since", "2026-06-01", "--until", "2026-09-01", "--quiet"], out=out) == 0
    html = (tmp_path / "review.html").read_text()
    assert "Incidents from 2026-06-01 to 2026-09-01" in html and emulator.token not in html


def test_cli_report_rejects_a_bad_suffix_before_any_request(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRAFANA_URL", emulator.url)
    monkeypatch.setenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", emulator.token)
    emulator.reset_requests()
    assert main(["report", "postmortem", "1", "--out", str(tmp_path / "x.pdf")], out=io.StringIO()) == 2
    assert ".html or .md" in capsys.readouterr().err
    assert emulator.requests == []


def test_as_of_moves_the_censoring_time(data: ia.IncidentData) -> None:
    iid = _open_id(data)
    later = data.fetched_at + pd.Timedelta(days=10)
    md = report.postmortem(data, iid, as_of=later)
    assert f"as of {later:%Y-%m-%d %H:%M}" in md


def test_review_groups_time_to_resolve_by_a_label_key(data: ia.IncidentData) -> None:
    since = data.incidents["created_time"].max() - pd.Timedelta(days=120)
    md = report.review(data, since=since, by="team", format="markdown", as_of=data.fetched_at)
    section = md.split("## Time to resolve")[1].split("\n## ")[0]
    assert "| team | Resolved (n) | Open (n) | Median |" in section
    teams = set(data.labels.loc[data.labels["key"] == "team", "value"])
    listed = set(re.findall(r"^\| ([a-z-]+) \| \d", section, flags=re.M))
    assert listed and listed <= teams | {"(none)"}
    with pytest.raises(ValueError, match="by"):
        report.review(data, by="")


def test_the_demo_review_calls_the_planted_major_fall_real_and_the_minor_move_noise(
    demo_scenario: DemoScenario,
) -> None:
    # The emulator's demo scenario plants a 40% fall in Major time to resolve from 2026-05-01 and a
    # 10% chance move in Minor; the review's per-severity comparison must call the first real only.
    data = demo_scenario.data
    text = report.review(data, since="2026-04-01", by="severity", format="markdown", as_of=data.fetched_at)
    section = text[text.index("Compared with the previous period") : text.index("## Labels")]
    rows = {
        cells[0]: cells
        for line in section.splitlines()
        if line.startswith("| ") and len(cells := [c.strip() for c in line.strip("|").split("|")]) == 9
    }
    assert rows["Major"][5].startswith("-") and rows["Major"][8] == "yes", rows["Major"]
    assert rows["Minor"][8] == "no", rows["Minor"]
