"""``IncidentClient`` and ``AsyncIncidentClient``: one ``call`` path, paging, and named helpers.

```python
import incident_analytics as ia

with ia.IncidentClient("https://mystack.grafana.net", token="glsa_...") as client:
    incident = client.incidents.get("17")
    for preview in client.incidents.query("status:active severity:major"):
        ...
    client.incidents.assign_label("17", "team", "payments")
```
Helpers are grouped by service: ``incidents``, ``tasks``, ``activity``, ``roles``, ``severities``,
``fields``. Every helper checks its arguments before anything is sent.
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import rpc
from .config import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_PLUGIN_ID,
    DEFAULT_TIMEOUT,
    MAX_PAGE_SIZE,
    RetryPolicy,
    check_count,
    check_number,
    resolve_base_url,
    resolve_token,
    resolve_url,
)
from .errors import NotFoundError
from .pagination import PageCallback, aiter_pages, iter_pages
from .transport import AsyncRequester, AttemptEvent, RequestSettings, SyncRequester
from .types import (
    ID,
    EventName,
    FieldDomain,
    IncidentID,
    IncidentStatus,
    JSONDict,
    OrderDirection,
    PreviewOrderField,
    Role,
    TaskStatus,
    Time,
)

logger = logging.getLogger("incident_analytics")
T = TypeVar("T")


def _settings(
    url: str | None,
    token: str | None,
    *,
    plugin_id: str,
    timeout: float,
    attempt_timeout: float | None,
    max_retries: int | None,
    retry: RetryPolicy | None,
    allow_insecure_http: bool,
    rate_limit: float | None,
    max_response_bytes: int,
    max_pages: int | None,
) -> RequestSettings:
    """Check every client argument (before any request) and turn them into request settings."""
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
    policy = retry or RetryPolicy()
    if max_retries is not None:
        policy = dataclasses.replace(policy, max_retries=max_retries)
    seconds = check_number("timeout", timeout)
    assert seconds is not None
    attempt = check_number("attempt_timeout", attempt_timeout, allow_none=True)
    limit = check_number("rate_limit", rate_limit, allow_none=True)
    size = check_count("max_response_bytes", max_response_bytes, minimum=1)
    assert size is not None
    check_count("max_pages", max_pages, minimum=1, allow_none=True)
    if not isinstance(plugin_id, str):
        raise TypeError(f"plugin_id must be a string such as 'grafana-irm-app', got {type(plugin_id).__name__}")
    if not isinstance(allow_insecure_http, bool):
        raise TypeError(f"allow_insecure_http must be True or False, got {allow_insecure_http!r}")
    base = resolve_base_url(resolve_url(url), plugin_id=plugin_id, allow_insecure_http=allow_insecure_http)
    return RequestSettings(
        base_url=base,
        token=resolve_token(token),
        timeout=seconds,
        retry=policy,
        attempt_timeout=attempt,
        max_response_bytes=size,
        rate_limit=limit,
        # No bursts: a bucket as deep as the rate let a fresh (or idle) client send a second's worth
        # of requests at once, twice the rate in its first second, and a server's smaller burst
        # answered 429 (tests/reliability/test_rate_limits.py). Requests are spaced 1/rate apart.
        rate_burst=1,
    )


class _Namespace:
    def __init__(self, client: IncidentClient) -> None:
        self._client = client

    def _run(self, call: rpc.RPC[T]) -> T:
        return call.parse(self._client.call(call.method, call.body))


class _AsyncNamespace:
    def __init__(self, client: AsyncIncidentClient) -> None:
        self._client = client

    async def _run(self, call: rpc.RPC[T]) -> T:
        return call.parse(await self._client.call(call.method, call.body))


# --------------------------------------------------------------------------------------------------
# Sync helpers.


class Incidents(_Namespace):
    """``IncidentsService``: list, read, declare and change incidents, their labels and roles."""

    def query(
        self,
        query_string: str = "",
        *,
        order_field: PreviewOrderField = "createdTime",
        order_direction: OrderDirection = "DESC",
        include_membership: bool = False,
        include_field_values: bool = False,
        page_size: int = MAX_PAGE_SIZE,
        max_items: int | None = None,
        max_pages: int | None = None,
        on_page: PageCallback | None = None,
    ) -> Iterator[JSONDict]:
        """Yield ``IncidentPreview`` records matching a query string, across all pages.

        >>> for p in client.incidents.query("isdrill:false status:resolved", order_field="closedTime"):
        ...     print(p["incidentID"], p["title"])   # doctest: +SKIP
        """
        body = rpc.query_previews_body(
            query_string,
            order_field=order_field,
            order_direction=order_direction,
            include_membership=include_membership,
            include_field_values=include_field_values,
        )
        return self._client.paginate(
            rpc.QUERY_PREVIEWS, body, page_size=page_size, max_items=max_items, max_pages=max_pages, on_page=on_page
        )

    def query_full(
        self,
        query_string: str = "",
        *,
        page_size: int = MAX_PAGE_SIZE,
        max_items: int | None = None,
        max_pages: int | None = None,
    ) -> Iterator[JSONDict]:
        """Yield full ``Incident`` records with the deprecated ``QueryIncidents`` (tasks included)."""
        body = rpc.query_incidents_body(query_string)
        return self._client.paginate(
            rpc.QUERY_INCIDENTS, body, page_size=page_size, max_items=max_items, max_pages=max_pages
        )

    def get(self, incident_id: IncidentID) -> JSONDict:
        """The full ``Incident``; ``NotFoundError`` for an unknown ID."""
        return self._run(rpc.get_incident(incident_id))

    def create(
        self,
        title: str,
        *,
        severity: str | None = None,
        labels: Iterable[str] = (),
        status: IncidentStatus = "active",
        is_drill: bool = False,
        room_prefix: str | None = None,
        initial_status_update: str | None = None,
    ) -> JSONDict:
        """Declare an incident. Never retried once it may have reached the server."""
        return self._run(
            rpc.create_incident(
                title,
                severity=severity,
                labels=labels,
                status=status,
                is_drill=is_drill,
                room_prefix=room_prefix,
                initial_status_update=initial_status_update,
            )
        )

    def update_status(self, incident_id: IncidentID, status: IncidentStatus) -> JSONDict:
        """Set the status to ``active`` or ``resolved``; returns the incident."""
        return self._run(rpc.update_status(incident_id, status))

    def update_severity(self, incident_id: IncidentID, severity: str) -> JSONDict:
        """Set the severity label; returns the incident."""
        return self._run(rpc.update_severity(incident_id, severity))

    def update_title(self, incident_id: IncidentID, title: str) -> JSONDict:
        """Set the title; returns the incident."""
        return self._run(rpc.update_title(incident_id, title))

    def update_is_drill(self, incident_id: IncidentID, is_drill: bool) -> JSONDict:
        """Mark or unmark the incident as a drill; returns the incident."""
        return self._run(rpc.update_is_drill(incident_id, is_drill))

    def update_event_time(self, incident_id: IncidentID, event_name: EventName, event_time: Time) -> JSONDict:
        """Move ``incidentStart`` or ``incidentEnd`` to an aware time."""
        return self._run(rpc.update_event_time(incident_id, event_name, event_time))

    def add_label(self, incident_id: IncidentID, label: str, *, description: str = "", color_hex: str = "") -> JSONDict:
        """Add a free-form (Tags) label; returns the incident. Never retried once it may have reached the server."""
        return self._run(rpc.add_label(incident_id, label, description=description, color_hex=color_hex))

    def remove_label(self, incident_id: IncidentID, label: str) -> JSONDict:
        """Remove a free-form label by text; returns the incident."""
        return self._run(rpc.remove_label(incident_id, label))

    def assign_label(self, incident_id: IncidentID, key: str, value: str) -> list[JSONDict]:
        """Set a ``key:value`` label; returns the incident's keyed labels."""
        return self._run(rpc.assign_label(incident_id, key, value))

    def unassign_label(self, incident_id: IncidentID, key: str, value: str) -> list[JSONDict]:
        """Remove a ``key:value`` label; returns the incident's keyed labels."""
        return self._run(rpc.unassign_label(incident_id, key, value))

    def get_labels(self, incident_id: IncidentID) -> list[JSONDict]:
        """The incident's ``key:value`` labels (``IncidentKeyValueLabel`` records)."""
        return self._run(rpc.get_labels(incident_id))

    def assign_role(self, incident_id: IncidentID, user_id: ID, role: Role) -> JSONDict:
        """Give a user a role (``commander``, ``investigator``, ``observer``)."""
        return self._run(rpc.assign_role(incident_id, user_id, role))

    def unassign_role(self, incident_id: IncidentID, user_id: ID, role: Role) -> JSONDict:
        """Take a role away from a user."""
        return self._run(rpc.unassign_role(incident_id, user_id, role))


class Tasks(_Namespace):
    """``TasksService``: an incident's checklist."""

    def add(self, incident_id: IncidentID, text: str, *, assign_to_user_id: ID | None = None) -> JSONDict:
        """Add a task; returns it. Never retried once it may have reached the server."""
        return self._run(rpc.add_task(incident_id, text, assign_to_user_id=assign_to_user_id))

    def update_status(self, incident_id: IncidentID, task_id: ID, status: TaskStatus) -> JSONDict:
        """Set a task's status to ``todo``, ``progress`` or ``done``; returns the task."""
        return self._run(rpc.update_task_status(incident_id, task_id, status))

    def update_text(self, incident_id: IncidentID, task_id: ID, text: str) -> JSONDict:
        """Change a task's text; returns the task."""
        return self._run(rpc.update_task_text(incident_id, task_id, text))

    def assign_user(self, incident_id: IncidentID, task_id: ID, user_id: ID) -> JSONDict:
        """Assign a task to a user; returns the task."""
        return self._run(rpc.assign_task_user(incident_id, task_id, user_id))

    def delete(self, incident_id: IncidentID, task_id: ID) -> JSONDict:
        """Delete a task; returns the remaining task list."""
        return self._run(rpc.delete_task(incident_id, task_id))


class Activity(_Namespace):
    """``ActivityService``: an incident's timeline."""

    def query(
        self,
        incident_id: IncidentID,
        *,
        kinds: Iterable[str] | None = None,
        tag: str | None = None,
        order_direction: OrderDirection = "ASC",
        page_size: int = MAX_PAGE_SIZE,
        max_items: int | None = None,
        max_pages: int | None = None,
    ) -> Iterator[JSONDict]:
        """Yield an incident's ``ActivityItem`` records across all pages, oldest first by default."""
        body = rpc.query_activity_body(incident_id, kinds=kinds, tag=tag, order_direction=order_direction)
        return self._client.paginate(
            rpc.QUERY_ACTIVITY, body, page_size=page_size, max_items=max_items, max_pages=max_pages
        )

    def add_note(self, incident_id: IncidentID, body: str, *, event_time: Time | None = None) -> JSONDict:
        """Add a ``userNote`` to the timeline; returns the new item.

        Never retried once it may have reached the server.
        """
        return self._run(rpc.add_note(incident_id, body, event_time=event_time))


class Roles(_Namespace):
    """``RolesService``."""

    def list(self) -> builtins.list[JSONDict]:
        """The org's incident roles (``Role`` records)."""
        return self._run(rpc.get_roles())


class Severities(_Namespace):
    """``SeveritiesService``."""

    def list(self) -> builtins.list[JSONDict]:
        """The org's severities; the defaults (Pending, Minor, Major, Critical) where the method is absent."""
        try:
            return self._run(rpc.get_org_severities())
        except NotFoundError:
            logger.info("GetOrgSeverities is not available on this stack; using the default severities")
            return [dict(s) for s in rpc.DEFAULT_SEVERITIES]


class Fields(_Namespace):
    """``FieldsService``: custom fields, among them the label keys and their values."""

    def list(self, domain_name: FieldDomain | None = None) -> builtins.list[JSONDict]:
        """Every custom field (``CustomMetadataField``), optionally of one domain."""
        return self._run(rpc.get_fields(domain_name))

    def label_keys(self) -> dict[str, builtins.list[str]]:
        """Label keys mapped to their allowed values, e.g. ``{"team": ["payments", "platform"]}``."""
        return rpc.label_keys_from_fields(self.list())


# --------------------------------------------------------------------------------------------------
# Async helpers: the same builders, awaited. Each docstring points to its sync twin, which documents
# the behaviour; tests/test_client_surface.py checks the signatures match.


class AsyncIncidents(_AsyncNamespace):
    """Async ``IncidentsService``; see :class:`Incidents`."""

    def query(
        self,
        query_string: str = "",
        *,
        order_field: PreviewOrderField = "createdTime",
        order_direction: OrderDirection = "DESC",
        include_membership: bool = False,
        include_field_values: bool = False,
        page_size: int = MAX_PAGE_SIZE,
        max_items: int | None = None,
        max_pages: int | None = None,
        on_page: PageCallback | None = None,
    ) -> AsyncIterator[JSONDict]:
        """Async twin of :meth:`Incidents.query` (use with ``async for``)."""
        body = rpc.query_previews_body(
            query_string,
            order_field=order_field,
            order_direction=order_direction,
            include_membership=include_membership,
            include_field_values=include_field_values,
        )
        return self._client.paginate(
            rpc.QUERY_PREVIEWS, body, page_size=page_size, max_items=max_items, max_pages=max_pages, on_page=on_page
        )

    def query_full(
        self,
        query_string: str = "",
        *,
        page_size: int = MAX_PAGE_SIZE,
        max_items: int | None = None,
        max_pages: int | None = None,
    ) -> AsyncIterator[JSONDict]:
        """Async twin of :meth:`Incidents.query_full` (use with ``async for``)."""
        body = rpc.query_incidents_body(query_string)
        return self._client.paginate(
            rpc.QUERY_INCIDENTS, body, page_size=page_size, max_items=max_items, max_pages=max_pages
        )

    async def get(self, incident_id: IncidentID) -> JSONDict:
        """Async twin of :meth:`Incidents.get`."""
        return await self._run(rpc.get_incident(incident_id))

    async def create(
        self,
        title: str,
        *,
        severity: str | None = None,
        labels: Iterable[str] = (),
        status: IncidentStatus = "active",
        is_drill: bool = False,
        room_prefix: str | None = None,
        initial_status_update: str | None = None,
    ) -> JSONDict:
        """Async twin of :meth:`Incidents.create`."""
        return await self._run(
            rpc.create_incident(
                title,
                severity=severity,
                labels=labels,
                status=status,
                is_drill=is_drill,
                room_prefix=room_prefix,
                initial_status_update=initial_status_update,
            )
        )

    async def update_status(self, incident_id: IncidentID, status: IncidentStatus) -> JSONDict:
        """Async twin of :meth:`Incidents.update_status`."""
        return await self._run(rpc.update_status(incident_id, status))

    async def update_severity(self, incident_id: IncidentID, severity: str) -> JSONDict:
        """Async twin of :meth:`Incidents.update_severity`."""
        return await self._run(rpc.update_severity(incident_id, severity))

    async def update_title(self, incident_id: IncidentID, title: str) -> JSONDict:
        """Async twin of :meth:`Incidents.update_title`."""
        return await self._run(rpc.update_title(incident_id, title))

    async def update_is_drill(self, incident_id: IncidentID, is_drill: bool) -> JSONDict:
        """Async twin of :meth:`Incidents.update_is_drill`."""
        return await self._run(rpc.update_is_drill(incident_id, is_drill))

    async def update_event_time(self, incident_id: IncidentID, event_name: EventName, event_time: Time) -> JSONDict:
        """Async twin of :meth:`Incidents.update_event_time`."""
        return await self._run(rpc.update_event_time(incident_id, event_name, event_time))

    async def add_label(
        self, incident_id: IncidentID, label: str, *, description: str = "", color_hex: str = ""
    ) -> JSONDict:
        """Async twin of :meth:`Incidents.add_label`."""
        return await self._run(rpc.add_label(incident_id, label, description=description, color_hex=color_hex))

    async def remove_label(self, incident_id: IncidentID, label: str) -> JSONDict:
        """Async twin of :meth:`Incidents.remove_label`."""
        return await self._run(rpc.remove_label(incident_id, label))

    async def assign_label(self, incident_id: IncidentID, key: str, value: str) -> list[JSONDict]:
        """Async twin of :meth:`Incidents.assign_label`."""
        return await self._run(rpc.assign_label(incident_id, key, value))

    async def unassign_label(self, incident_id: IncidentID, key: str, value: str) -> list[JSONDict]:
        """Async twin of :meth:`Incidents.unassign_label`."""
        return await self._run(rpc.unassign_label(incident_id, key, value))

    async def get_labels(self, incident_id: IncidentID) -> list[JSONDict]:
        """Async twin of :meth:`Incidents.get_labels`."""
        return await self._run(rpc.get_labels(incident_id))

    async def assign_role(self, incident_id: IncidentID, user_id: ID, role: Role) -> JSONDict:
        """Async twin of :meth:`Incidents.assign_role`."""
        return await self._run(rpc.assign_role(incident_id, user_id, role))

    async def unassign_role(self, incident_id: IncidentID, user_id: ID, role: Role) -> JSONDict:
        """Async twin of :meth:`Incidents.unassign_role`."""
        return await self._run(rpc.unassign_role(incident_id, user_id, role))


class AsyncTasks(_AsyncNamespace):
    """Async ``TasksService``; see :class:`Tasks`."""

    async def add(self, incident_id: IncidentID, text: str, *, assign_to_user_id: ID | None = None) -> JSONDict:
        """Async twin of :meth:`Tasks.add`."""
        return await self._run(rpc.add_task(incident_id, text, assign_to_user_id=assign_to_user_id))

    async def update_status(self, incident_id: IncidentID, task_id: ID, status: TaskStatus) -> JSONDict:
        """Async twin of :meth:`Tasks.update_status`."""
        return await self._run(rpc.update_task_status(incident_id, task_id, status))

    async def update_text(self, incident_id: IncidentID, task_id: ID, text: str) -> JSONDict:
        """Async twin of :meth:`Tasks.update_text`."""
        return await self._run(rpc.update_task_text(incident_id, task_id, text))

    async def assign_user(self, incident_id: IncidentID, task_id: ID, user_id: ID) -> JSONDict:
        """Async twin of :meth:`Tasks.assign_user`."""
        return await self._run(rpc.assign_task_user(incident_id, task_id, user_id))

    async def delete(self, incident_id: IncidentID, task_id: ID) -> JSONDict:
        """Async twin of :meth:`Tasks.delete`."""
        return await self._run(rpc.delete_task(incident_id, task_id))


class AsyncActivity(_AsyncNamespace):
    """Async ``ActivityService``; see :class:`Activity`."""

    def query(
        self,
        incident_id: IncidentID,
        *,
        kinds: Iterable[str] | None = None,
        tag: str | None = None,
        order_direction: OrderDirection = "ASC",
        page_size: int = MAX_PAGE_SIZE,
        max_items: int | None = None,
        max_pages: int | None = None,
    ) -> AsyncIterator[JSONDict]:
        """Async twin of :meth:`Activity.query` (use with ``async for``)."""
        body = rpc.query_activity_body(incident_id, kinds=kinds, tag=tag, order_direction=order_direction)
        return self._client.paginate(
            rpc.QUERY_ACTIVITY, body, page_size=page_size, max_items=max_items, max_pages=max_pages
        )

    async def add_note(self, incident_id: IncidentID, body: str, *, event_time: Time | None = None) -> JSONDict:
        """Async twin of :meth:`Activity.add_note`."""
        return await self._run(rpc.add_note(incident_id, body, event_time=event_time))


class AsyncRoles(_AsyncNamespace):
    """Async ``RolesService``; see :class:`Roles`."""

    async def list(self) -> builtins.list[JSONDict]:
        """Async twin of :meth:`Roles.list`."""
        return await self._run(rpc.get_roles())


class AsyncSeverities(_AsyncNamespace):
    """Async ``SeveritiesService``; see :class:`Severities`."""

    async def list(self) -> builtins.list[JSONDict]:
        """Async twin of :meth:`Severities.list`."""
        try:
            return await self._run(rpc.get_org_severities())
        except NotFoundError:
            logger.info("GetOrgSeverities is not available on this stack; using the default severities")
            return [dict(s) for s in rpc.DEFAULT_SEVERITIES]


class AsyncFields(_AsyncNamespace):
    """Async ``FieldsService``; see :class:`Fields`."""

    async def list(self, domain_name: FieldDomain | None = None) -> builtins.list[JSONDict]:
        """Async twin of :meth:`Fields.list`."""
        return await self._run(rpc.get_fields(domain_name))

    async def label_keys(self) -> dict[str, builtins.list[str]]:
        """Async twin of :meth:`Fields.label_keys`."""
        return rpc.label_keys_from_fields(await self.list())


# --------------------------------------------------------------------------------------------------
# The clients.


class IncidentClient:
    """A client of the Grafana Incident (IRM) RPC API.

    **Parameters:**

    * **url** - a stack URL (``https://mystack.grafana.net``) or a full API base; default
      ``GRAFANA_URL``.
    * **token** - a service-account token; default ``GRAFANA_SERVICE_ACCOUNT_TOKEN``.
    * **plugin_id** - ``grafana-irm-app`` (current) or ``grafana-incident-app`` (older stacks).
    * **timeout** - seconds for each network operation of an attempt (connect, each read, each write).
    * **attempt_timeout** - wall-clock seconds for one whole attempt, body included, however slowly
      the server sends it (default: twice ``timeout``). ``retry.total_timeout`` bounds the whole
      call, retries and waits included. Passing either raises ``RequestTimeoutError`` (or
      ``OutcomeUnknownError`` for a create that may have reached the server).
    * **max_retries** - retries after the first attempt (overrides ``retry.max_retries``).
    * **retry** - a full ``RetryPolicy``.
    * **rate_limit** - at most this many requests per second from this client, spaced evenly (no
      bursts). None: no limit until the server answers 429, then the pace it was accepting
      (:attr:`learned_rate`). Pass the limit when you know it: nothing is then refused.
    * **max_response_bytes** - largest decoded (un-gzipped) response body accepted, checked while
      it streams in (default 64 MiB); a larger one raises ``ResponseFormatError``.
    * **max_pages** - page ceiling of every listing (default ``config.DEFAULT_MAX_PAGES``, 10,000:
      the API reports no listing size to derive one from); beyond it ``PaginationLoopError``.
    * **allow_insecure_http** - permit ``http://`` to a host that is not loopback.
    * **transport** - an ``httpx`` transport, for tests (requests then go through ``httpx``; without
      one they go on the client's own keep-alive ``http.client`` connections, unless a proxy is
      configured in the environment or vcrpy is recording or replaying).
    * **sleep** / **rng** - injectable sleep and random source for the backoff, for tests.

    Redirects are never followed (the token must not travel): a 3xx raises ``RedirectError``.

    ```python
    with IncidentClient("https://mystack.grafana.net", token) as client:
        client.incidents.update_status("17", "resolved")
    ```
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        plugin_id: str = DEFAULT_PLUGIN_ID,
        timeout: float = DEFAULT_TIMEOUT,
        attempt_timeout: float | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_pages: int | None = None,
        allow_insecure_http: bool = False,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        settings = _settings(
            url,
            token,
            plugin_id=plugin_id,
            timeout=timeout,
            attempt_timeout=attempt_timeout,
            max_retries=max_retries,
            retry=retry,
            allow_insecure_http=allow_insecure_http,
            rate_limit=rate_limit,
            max_response_bytes=max_response_bytes,
            max_pages=max_pages,
        )
        kwargs: dict[str, Any] = {"transport": transport, "rng": rng}
        if sleep is not None:
            kwargs["sleep"] = sleep
        self._requester = SyncRequester(settings, **kwargs)
        self.base_url = settings.base_url
        self.retry = settings.retry
        self.max_pages = max_pages
        self.incidents = Incidents(self)
        self.tasks = Tasks(self)
        self.activity = Activity(self)
        self.roles = Roles(self)
        self.severities = Severities(self)
        self.fields = Fields(self)

    def call(self, method: str, body: Mapping[str, Any] | None = None) -> JSONDict:
        """Send one RPC (``"Service.Method"``) and return its decoded JSON object.

        Every request takes this path: headers, gzip, deadlines, size cap, retries and error mapping.
        """
        return self._requester.call(method, body)

    @property
    def learned_rate(self) -> float | None:
        """Requests per second this client paces itself at after the server answered 429, or None.

        Only without ``rate_limit=``: the API publishes no limit, so the first 429 (whose
        ``Retry-After`` holds back every request) sets the pace at 90% of the rate the server was
        accepting just before; the pace creeps up 0.5% per quiet second and is dropped after a
        minute without a 429.
        """
        return self._requester.learned_rate

    def add_listener(self, listener: Callable[[AttemptEvent], None]) -> Callable[[], None]:
        """Call ``listener(event)`` after every attempt (an ``AttemptEvent``); returns a remover.

        Listeners run in the thread that made the attempt (``fetch`` uses a thread pool), so they
        must be quick and thread-safe; an exception in one is logged, never raised.

        ```python
        statuses = collections.Counter()
        remove = client.add_listener(lambda event: statuses.update([event.status]))
        ia.fetch(client)
        remove()
        ```
        """
        return self._requester.add_listener(listener)

    def paginate(
        self,
        method: str,
        body: Mapping[str, Any] | None = None,
        items_key: str | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
        max_items: int | None = None,
        max_pages: int | None = None,
        on_page: PageCallback | None = None,
    ) -> Iterator[Any]:
        """Yield the records under ``items_key`` across every page of a cursor-paged RPC.

        ``items_key`` defaults to the method catalogue's (``incidentPreviews`` for
        ``QueryIncidentPreviews``). Stops on ``hasMore: false``, an empty ``nextValue`` or an empty
        page; raises ``PaginationLoopError`` on a repeated cursor, a page of only known records, or
        more than ``max_pages`` pages (default: the client's); never asks for more than 100 per page.
        """
        return iter_pages(
            self.call,
            method,
            body,
            items_key,
            page_size=page_size,
            max_items=max_items,
            max_pages=self.max_pages if max_pages is None else max_pages,
            on_page=on_page,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._requester.close()

    def __enter__(self) -> IncidentClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, token='***')"


class AsyncIncidentClient:
    """The asyncio twin of :class:`IncidentClient`, with the same parameters and helpers (awaited)."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        plugin_id: str = DEFAULT_PLUGIN_ID,
        timeout: float = DEFAULT_TIMEOUT,
        attempt_timeout: float | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_pages: int | None = None,
        allow_insecure_http: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        settings = _settings(
            url,
            token,
            plugin_id=plugin_id,
            timeout=timeout,
            attempt_timeout=attempt_timeout,
            max_retries=max_retries,
            retry=retry,
            allow_insecure_http=allow_insecure_http,
            rate_limit=rate_limit,
            max_response_bytes=max_response_bytes,
            max_pages=max_pages,
        )
        kwargs: dict[str, Any] = {"transport": transport, "rng": rng}
        if sleep is not None:
            kwargs["sleep"] = sleep
        self._requester = AsyncRequester(settings, **kwargs)
        self.base_url = settings.base_url
        self.retry = settings.retry
        self.max_pages = max_pages
        self.incidents = AsyncIncidents(self)
        self.tasks = AsyncTasks(self)
        self.activity = AsyncActivity(self)
        self.roles = AsyncRoles(self)
        self.severities = AsyncSeverities(self)
        self.fields = AsyncFields(self)

    async def call(self, method: str, body: Mapping[str, Any] | None = None) -> JSONDict:
        """Async twin of :meth:`IncidentClient.call`."""
        return await self._requester.call(method, body)

    @property
    def learned_rate(self) -> float | None:
        """Requests per second this client paces itself at after the server answered 429, or None.

        Only without ``rate_limit=``: the API publishes no limit, so the first 429 (whose
        ``Retry-After`` holds back every request) sets the pace at 90% of the rate the server was
        accepting just before; the pace creeps up 0.5% per quiet second and is dropped after a
        minute without a 429.
        """
        return self._requester.learned_rate

    def add_listener(self, listener: Callable[[AttemptEvent], None]) -> Callable[[], None]:
        """Call ``listener(event)`` after every attempt (an ``AttemptEvent``), in the event loop; returns a remover.

        An exception in a listener is logged, never raised.
        """
        return self._requester.add_listener(listener)

    def paginate(
        self,
        method: str,
        body: Mapping[str, Any] | None = None,
        items_key: str | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
        max_items: int | None = None,
        max_pages: int | None = None,
        on_page: PageCallback | None = None,
    ) -> AsyncIterator[Any]:
        """Async twin of :meth:`IncidentClient.paginate` (use with ``async for``)."""
        return aiter_pages(
            self.call,
            method,
            body,
            items_key,
            page_size=page_size,
            max_items=max_items,
            max_pages=self.max_pages if max_pages is None else max_pages,
            on_page=on_page,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._requester.aclose()

    async def __aenter__(self) -> AsyncIncidentClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, token='***')"
