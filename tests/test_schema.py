"""The column tables are the one source: frames, fetch's row order and the store's errors schema
all read them."""

from __future__ import annotations

import doctest
import importlib

from incident_analytics import frames, schema, store
from incident_analytics.schema import ERRORS, TABLES, Column


def test_fetch_orders_rows_by_the_declared_sort_keys() -> None:
    fetch = importlib.import_module("incident_analytics.fetch")
    assert {name: list(table.sort_keys) for name, table in TABLES.items()} == fetch.SORT_KEYS


def test_the_store_and_fetch_use_the_declared_errors_schema() -> None:
    assert store.ERROR_SCHEMA is schema.ERROR_SCHEMA
    assert list(store.ERROR_SCHEMA) == ["incident_id", "method", "error_type", "status_code", "message", "field"]
    assert ERRORS.schema == store.ERROR_SCHEMA
    assert list(store.empty_errors().columns) == list(ERRORS.schema)


def test_frames_schemas_are_the_tables() -> None:
    assert frames.TABLES is TABLES
    assert {name: table.schema for name, table in TABLES.items()} == frames.SCHEMAS


def test_a_column_lists_its_fallback_paths_in_order() -> None:
    column = Column("severity", schema.STRING, "severity", "severityLabel")
    assert column.wire == ("severity", "severityLabel") and column.nullable
    assert Column("incident_id", schema.STRING, "incidentID", nullable=False).nullable is False
    assert schema.membership("totalAssignments") == (
        "incidentMembership.totalAssignments",
        "incidentMembershipPreview.totalAssignments",
    )


def test_the_docstring_examples_hold() -> None:
    results = doctest.testmod(schema)
    assert results.attempted > 0 and results.failed == 0
