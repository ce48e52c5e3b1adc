"""The queryString language (docs/api.md#query-language): parser units, and served results against brute force."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from incident_analytics.emulator import Emulator
from incident_analytics.emulator.query import (
    And,
    DrillTerm,
    FieldTerm,
    LabelTerm,
    Or,
    QuerySyntaxError,
    RangeTerm,
    SeverityTerm,
    StatusTerm,
    parse,
)

from .helpers import call, ns, preview_ids

Incident = dict[str, Any]
Predicate = Callable[[Incident], bool]

# --- parser units --------------------------------------------------------------------------------


def test_parse_builds_the_expected_ast() -> None:
    """Juxtaposition is AND, or(...) nests, quotes of either kind keep spaces and colons."""
    node = parse("""isdrill:false or(label:"PIR not needed" field:team:'search') severity:MAJOR""")
    assert node == And(
        (
            DrillTerm(False),
            Or((LabelTerm("pir not needed"), FieldTerm("team", "search"))),
            SeverityTerm("major"),
        )
    )


def test_parse_single_term_and_empty() -> None:
    """A single term is itself; the empty string is an empty AND (matches everything)."""
    assert parse("status:Active") == StatusTerm("active")
    assert parse("") == And(())
    assert parse("   ") == And(())


def test_parse_ranges_with_open_bounds() -> None:
    """Date ranges keep colons in times; either bound may be empty; offsets are honoured."""
    assert parse("declared:2026-01-01T00:00:00Z,") == RangeTerm("declared", ns("2026-01-01T00:00:00Z"), None)
    assert parse("ended:,2026-01-01T02:00:00+02:00") == RangeTerm("ended", None, ns("2026-01-01T00:00:00Z"))
    term = parse("resolved:2026-09-19T11:02:00.5Z,2026-09-19T23:59:59.123456789Z")
    assert term == RangeTerm("resolved", ns("2026-09-19T11:02:00.5Z"), ns("2026-09-19T23:59:59.123456789Z"))


def test_parse_keyed_label_text_and_quoted_field_value() -> None:
    """``label:"k:v"`` keeps the colon; ``field:k:"a b"`` takes a quoted value."""
    assert parse('label:"team:payments"') == LabelTerm("team:payments")
    assert parse('field:service_name:"checkout api"') == FieldTerm("service_name", "checkout api")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("any(status:active status:resolved)", "any"),
        ("status:foo", "status:foo"),
        ("isdrill:maybe", "isdrill:maybe"),
        ("modified:2026-01-01T00:00:00Z,", "modified"),
        ("created:>2026-01-01", "created"),
        ("and", "and"),
        ("isdrill:false and status:active", "and"),
        ("or(status:active", "or("),
        ("status:active)", ")"),
        ('label:"unterminated', "quote"),
        ("field:team:", "field:team:"),
        ("field:team", "field:team"),
        ("label:", "label:"),
        ("severity:''", "severity:"),
        ("declared:2026-01-01", "declared:2026-01-01"),
        ("declared:,", "declared:,"),
        ("declared:yesterday,", "yesterday"),
        ("declared:2026-13-01T00:00:00Z,", "2026-13-01"),
        ("(status:active)", "("),
        ("or()", "or()"),
        ("foo(status:active)", "foo"),
        ("or (status:active)", "or"),
    ],
)
def test_parse_rejects_with_a_message_naming_the_term(text: str, named: str) -> None:
    """Malformed strings raise QuerySyntaxError whose message names the offending part."""
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    assert named in str(info.value)


# --- served results vs brute force ---------------------------------------------------------------


def _tags(i: Incident) -> set[str]:
    return {lb["label"].casefold() for lb in i["labels"] if lb["key"] == "tags"}


def _keyed(i: Incident) -> set[tuple[str, str]]:
    return {(lb["key"].casefold(), lb["label"].casefold()) for lb in i["labels"] if lb["key"] != "tags"}


def _in(field: str, low: str | None, high: str | None) -> Predicate:
    def predicate(i: Incident) -> bool:
        if not i[field]:
            return False
        value = ns(i[field])
        return (low is None or value >= ns(low)) and (high is None or value <= ns(high))

    return predicate


def _sev(label: str) -> Predicate:
    return lambda i: i["severity"].casefold() == label


def _tag(text: str) -> Predicate:
    return lambda i: text in _tags(i)


def _kv(key: str, value: str) -> Predicate:
    return lambda i: (key, value) in _keyed(i)


def _drill(value: bool) -> Predicate:
    return lambda i: i["isDrill"] is value


def _status(value: str) -> Predicate:
    return lambda i: i["status"] == value


def _all(*predicates: Predicate) -> Predicate:
    return lambda i: all(p(i) for p in predicates)


def _any(*predicates: Predicate) -> Predicate:
    return lambda i: any(p(i) for p in predicates)


CASES: list[tuple[str, Predicate]] = [
    ("", lambda i: True),
    ("isdrill:true", _drill(True)),
    ("isdrill:false", _drill(False)),
    ("isDrill:TRUE", _drill(True)),
    ("status:active", _status("active")),
    ("status:Resolved", _status("resolved")),
    ("severity:major", _sev("major")),
    ('severity:"Critical"', _sev("critical")),
    ("severity:'minor'", _sev("minor")),
    ("severity:pending", _sev("pending")),
    ("severity:catastrophic", lambda i: False),
    ("label:security", _tag("security")),
    ('label:"PIR not needed"', _tag("pir not needed")),
    ("label:'customer-facing'", _tag("customer-facing")),
    ('label:"team:payments"', _kv("team", "payments")),
    ("label:team:search", _kv("team", "search")),
    ("label:payments", lambda i: False),  # a keyed label's bare value matches nothing (docs/api.md#label-matching)
    ("field:team:payments", _kv("team", "payments")),
    ('field:service_name:"checkout-api"', _kv("service_name", "checkout-api")),
    ("field:region:EU-WEST", _kv("region", "eu-west")),
    ("field:nosuchkey:x", lambda i: False),
    ("declared:2026-01-01T00:00:00Z,", _in("createdTime", "2026-01-01T00:00:00Z", None)),
    ("declared:,2025-12-31T23:59:59Z", _in("createdTime", None, "2025-12-31T23:59:59Z")),
    (
        "declared:2026-03-01T00:00:00Z,2026-03-31T23:59:59.999999Z",
        _in("createdTime", "2026-03-01T00:00:00Z", "2026-03-31T23:59:59.999999Z"),
    ),
    ("declared:2026-03-01T02:00:00+02:00,", _in("createdTime", "2026-03-01T00:00:00Z", None)),
    (
        "started:2026-06-01T00:00:00Z,2026-06-30T23:59:59Z",
        _in("incidentStart", "2026-06-01T00:00:00Z", "2026-06-30T23:59:59Z"),
    ),
    ("resolved:2026-01-01T00:00:00Z,", _in("closedTime", "2026-01-01T00:00:00Z", None)),
    ("ended:,2026-01-01T00:00:00Z", _in("incidentEnd", None, "2026-01-01T00:00:00Z")),
    ("isdrill:false status:resolved severity:major", _all(_drill(False), _status("resolved"), _sev("major"))),
    ("or(status:active isdrill:true)", _any(_status("active"), _drill(True))),
    (
        "isdrill:false or(label:security label:database)",
        _all(_drill(False), _any(_tag("security"), _tag("database"))),
    ),
    (
        "or(field:team:search or(severity:critical label:network))",
        _any(_kv("team", "search"), _sev("critical"), _tag("network")),
    ),
    (
        "or(severity:Critical severity:Major) field:region:us-east",
        _all(_any(_sev("critical"), _sev("major")), _kv("region", "us-east")),
    ),
    ("status:active status:resolved", lambda i: False),
    ("or(status:active status:resolved) isdrill:false", _drill(False)),
]


@pytest.mark.parametrize(("query_string", "predicate"), CASES, ids=[c[0] or "<empty>" for c in CASES])
def test_query_matches_brute_force(
    seeded: Emulator, client: httpx.Client, query_string: str, predicate: Predicate
) -> None:
    """The IDs served (all pages) equal a brute-force filter over the state's rendered incidents."""
    got = preview_ids(client, query_string)
    incidents = [seeded.state.render_incident(i) for i in seeded.state.incidents]
    expected = [
        i["incidentID"] for i in sorted(incidents, key=lambda i: ns(i["createdTime"]), reverse=True) if predicate(i)
    ]
    assert got == expected


def test_table_is_not_trivial(seeded: Emulator, client: httpx.Client) -> None:
    """The seeded data makes the table meaningful: most cases select some, but not all, incidents."""
    sizes = [len(preview_ids(client, q)) for q, _ in CASES]
    partial = [s for s in sizes if 0 < s < len(seeded.state.incidents)]
    assert len(partial) >= len(CASES) - 8


@pytest.mark.parametrize(
    "query_string",
    [
        "any(status:active)",
        "isdrill:false any(label:security label:important)",
        "modified:2026-01-01T00:00:00Z,",
        "created:>2026-01-01",
        "and",
        "or(status:active",
        'label:"x',
        "field:team:",
        "declared:2026-01-01",
    ],
)
def test_bad_query_string_is_400_over_http(client: httpx.Client, query_string: str) -> None:
    """Malformed strings and ``any(...)`` answer HTTP 400 with an ``error`` (docs/api.md#query-language)."""
    response = call(client, "IncidentsService.QueryIncidentPreviews", {"query": {"queryString": query_string}})
    assert response.status_code == 400
    assert "queryString" in response.json()["error"]
