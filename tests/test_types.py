"""The Literal types of the public signatures hold exactly the values the API contract fixes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import pytest

from incident_analytics import rpc, types

CONTRACT: dict[str, Any] = json.loads((Path(__file__).parent / "fixtures" / "contract.json").read_text())
ENUMS: dict[str, list[str]] = CONTRACT["enums"]


@pytest.mark.parametrize(
    ("alias", "enums"),
    [
        (types.IncidentStatus, ["IncidentStatus", "UpdateStatusRequestStatus", "CreateIncidentRequestStatus"]),
        (types.TaskStatus, ["TaskStatus", "UpdateTaskStatusRequestStatus"]),
        (types.Role, ["AssignRoleRequestRole", "UnassignRoleRequestRole"]),
        (types.OrderDirection, ["IncidentPreviewsQueryOrderDirection", "ActivityQueryOrderDirection"]),
        (types.PreviewOrderField, ["IncidentPreviewsQueryOrderField"]),
        (types.EventName, ["UpdateIncidentEventTimeRequestEventName"]),
        (types.FieldDomain, ["CustomMetadataFieldDomainName"]),
    ],
)
def test_each_literal_matches_the_contract_enums(alias: Any, enums: list[str]) -> None:
    for enum in enums:
        assert set(get_args(alias)) == set(ENUMS[enum]), enum


def test_the_runtime_checks_read_the_same_literals() -> None:
    assert get_args(types.IncidentStatus) == rpc.INCIDENT_STATUSES
    assert get_args(types.TaskStatus) == rpc.TASK_STATUSES
    assert get_args(types.Role) == rpc.ROLES
    assert get_args(types.PreviewOrderField) == rpc.PREVIEW_ORDER_FIELDS
    assert get_args(types.EventName) == rpc.EVENT_NAMES
    assert get_args(types.FieldDomain) == rpc.FIELD_DOMAINS
    with pytest.raises(ValueError, match="active, resolved"):
        rpc.update_status("1", "closed")  # type: ignore[arg-type]
