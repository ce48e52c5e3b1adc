"""The method catalogue against the API contract, the emulator, the helpers and the request path."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from incident_analytics import IncidentClient, rpc
from incident_analytics.emulator import IMPLEMENTED_METHODS, UNVERSIONED_ONLY, Emulator
from incident_analytics.methods import METHODS, NOT_IN_CONTRACT, method, method_info
from incident_analytics.transport import method_kind
from tests.fakes import ScriptedAPI, json_reply

FIXTURES = Path(__file__).parent / "fixtures"
CONTRACT: dict[str, Any] = json.loads((FIXTURES / "contract.json").read_text())
CONTRACT_METHODS = {m["path"]: m for m in CONTRACT["methods"]}
TYPES: dict[str, list[dict[str, str]]] = CONTRACT["types"]
RPC_SOURCE = Path(rpc.__file__).read_text()
HELPER_METHODS: set[str] = set(re.findall(r'catalogued\("(\w+\.\w+)"\)', RPC_SOURCE))
# docs/api.md#unversioned-methods (gcx, checked live): these answer only on the unversioned prefix.
UNVERSIONED_PER_FACTS = {
    "SeveritiesService.GetOrgSeverities",
    "IncidentContextService.QueryIncidentContext",
    "IntegrationService.GetHookRuns",
}


def fields_of(type_name: str) -> dict[str, str]:
    return {f["json"]: f["go_type"] for f in TYPES[type_name]}


def test_every_catalogued_method_is_in_the_contract_except_the_documented_unversioned_ones() -> None:
    unknown = set(METHODS) - set(CONTRACT_METHODS)
    assert unknown == set(NOT_IN_CONTRACT)
    assert all(METHODS[name].unversioned for name in NOT_IN_CONTRACT)


def test_every_contract_method_is_catalogued() -> None:
    assert set(CONTRACT_METHODS) <= set(METHODS)


def test_the_unversioned_prefix_follows_facts_section_1() -> None:
    assert {name for name, m in METHODS.items() if m.unversioned} == UNVERSIONED_PER_FACTS


def test_retry_kinds_are_reads_for_gets_and_queries_and_never_for_writes() -> None:
    for name, entry in METHODS.items():
        reads = name.rpartition(".")[2].startswith(("Get", "Query"))
        assert (entry.kind == "read") == reads, name
        if name.rpartition(".")[2].startswith(("Create", "Add", "Delete", "Remove")) and name != (
            "IncidentsService.RemoveLabel"
        ):
            assert entry.kind == "unsafe", name
    for create in ("CreateIncident", "AddLabel"):
        assert METHODS[f"IncidentsService.{create}"].kind == "unsafe"
    assert METHODS["TasksService.AddTask"].kind == "unsafe"
    assert METHODS["ActivityService.AddActivity"].kind == "unsafe"


def test_paged_listings_are_exactly_the_contract_responses_with_a_cursor() -> None:
    paged = {name for name, m in METHODS.items() if m.paged}
    with_cursor = {name for name, m in CONTRACT_METHODS.items() if "cursor" in fields_of(m["response"])}
    assert paged == with_cursor
    for name in paged:
        entry = METHODS[name]
        response = fields_of(CONTRACT_METHODS[name]["response"])
        assert entry.items_key in response, name
        item_type = response[str(entry.items_key)].removeprefix("[]")
        assert entry.record_id in fields_of(item_type), name


def test_every_method_a_helper_calls_is_catalogued_and_answered_by_the_emulator() -> None:
    assert len(HELPER_METHODS) >= 25
    assert HELPER_METHODS.issubset(METHODS)
    # The emulator keeps its own list (it never imports the client): every helper must work on it.
    assert HELPER_METHODS.issubset(IMPLEMENTED_METHODS)


def test_the_emulator_knows_no_method_the_contract_and_catalogue_do_not() -> None:
    assert set(IMPLEMENTED_METHODS) <= set(METHODS)
    # A method the emulator serves only unversioned must be routed there by the client.
    assert set(UNVERSIONED_ONLY) <= {name for name, m in METHODS.items() if m.unversioned}


def test_the_client_reaches_every_catalogued_method_the_emulator_serves(emulator: Emulator) -> None:
    # Routing only: an empty body may be refused (400) but must never hit a missing route (404
    # without the API's own "error").
    with IncidentClient(emulator.url, emulator.token, max_retries=0) as client, httpx.Client() as http:
        for name in sorted(set(IMPLEMENTED_METHODS) & set(METHODS)):
            response = http.post(
                client._requester.url_for(name),
                json={},
                headers={"Authorization": f"Bearer {emulator.token}"},
            )
            routed = response.status_code != 404 or "error" in response.json()
            assert routed, f"{name}: {response.status_code} at {client._requester.url_for(name)}"


@pytest.mark.parametrize("name", sorted(UNVERSIONED_PER_FACTS))
def test_the_transport_sends_unversioned_methods_to_the_unversioned_prefix(name: str) -> None:
    api = ScriptedAPI(json_reply({}))
    with IncidentClient("https://s.grafana.net", "glsa_x", transport=api.transport()) as client:
        client.call(name)
    assert api.requests[0].url.path == f"/api/plugins/grafana-irm-app/resources/api/{name}"


def test_uncatalogued_methods_are_classified_by_name_and_method_refuses_typos() -> None:
    assert method_info("NewService.GetThing").kind == "read"
    assert method_info("NewService.MakeThing").kind == "unsafe"
    assert not method_info("NewService.GetThing").unversioned
    assert method_kind("IncidentsService.UpdateStatus") == "idempotent"
    with pytest.raises(KeyError, match="not in the method catalogue"):
        method("IncidentsService.CreateIncidnet")
