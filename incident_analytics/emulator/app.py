"""The :class:`Emulator`: seeded state plus a real HTTP server on loopback, with test knobs."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType

from incident_analytics.emulator.faults import FaultPlan, TokenBucket
from incident_analytics.emulator.handlers import Api
from incident_analytics.emulator.scenarios import scenario as get_scenario
from incident_analytics.emulator.server import PLUGIN_IDS, Backend, EmulatorHTTPServer, RequestRecord
from incident_analytics.emulator.state import State
from incident_analytics.emulator.times import parse_time, to_datetime

logger = logging.getLogger("incident_analytics.emulator")

API_PATH = "/api/plugins/{plugin_id}/resources/api/v1/"


class Emulator:
    """A faithful, stateful local server of the Grafana Incident RPC API.

    ```python
    from incident_analytics.emulator import Emulator

    with Emulator(seed=0, incidents=300) as emu:
        emu.url      # "http://127.0.0.1:53211" (the stack URL)
        emu.api_url  # emu.url + "/api/plugins/grafana-irm-app/resources/api/v1/"
        emu.token    # "glsa_..." bearer token
    ```

    **Parameters** (all but ``seed`` and ``incidents`` keyword-only):

    * **seed**, **incidents**: the seeded data (same seed, same data); default 0 and 300.
    * **scenario** *(optional)*: a preset of both, ``"demo"``, ``"small"``, ``"large"`` or
      ``"empty"`` (see :mod:`incident_analytics.emulator.scenarios`); an explicit ``seed`` or
      ``incidents`` overrides the preset's.
    * **token** *(optional)*: the accepted bearer token; random per instance by default.
    * **host**, **port**: where to listen; port 0 picks a free one.
    * **latency**: seconds added to every response (settable later as ``emu.latency``).
    * **rate_limit** *(optional)*: ``(requests_per_second, burst)``; over it, HTTP 429 with
      ``Retry-After``.
    * **faults** *(optional)*: probability per fault kind, e.g. ``{"503": 0.05, "drop": 0.01}``,
      drawn from ``random.Random(fault_seed)``; see :mod:`incident_analytics.emulator.faults`.
    * **now** *(optional)*: the seeded data's "now" (datetime or RFC 3339 string); default
      2026-11-01T00:00:00Z. Writes use the real wall clock.
    * **slow_seconds**: how long the ``"slow"`` fault waits.
    * **fixed_clock**: writes get times from a clock that starts an hour after ``now`` and moves
      one second per write, instead of the wall clock (with the seeded IDs, a scripted session
      then gives byte-identical answers on every run: cassette recording uses it).
    """

    def __init__(
        self,
        seed: int | None = None,
        incidents: int | None = None,
        *,
        scenario: str | None = None,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        rate_limit: tuple[float, int] | None = None,
        faults: Mapping[str, float] | None = None,
        fault_seed: int = 0,
        now: datetime | str | None = None,
        slow_seconds: float = 5.0,
        fixed_clock: bool = False,
    ) -> None:
        if isinstance(now, str):
            now = to_datetime(parse_time(now))
        preset = get_scenario(scenario) if scenario is not None else None
        self.scenario = preset
        self.seed = seed if seed is not None else (preset.seed if preset else 0)
        count = incidents if incidents is not None else (preset.incidents if preset else 300)
        self.state = State(self.seed, count, now=now, fixed_clock=fixed_clock)
        self.token = token if token is not None else "glsa_" + secrets.token_hex(20)
        self.host = host
        self.plugin_ids: tuple[str, ...] = PLUGIN_IDS
        self._requested_port = port
        self._fault_plan = FaultPlan(faults, fault_seed=fault_seed)
        bucket = TokenBucket(*rate_limit) if rate_limit is not None else None
        self._backend = Backend(
            api=Api(self.state),
            token=self.token,
            faults=self._fault_plan,
            bucket=bucket,
            latency=latency,
            slow_seconds=slow_seconds,
            plugin_ids=self.plugin_ids,
        )
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------

    def _open(self) -> EmulatorHTTPServer:
        with self._lifecycle:
            if self._server is not None:
                raise RuntimeError("the emulator is already running")
            self._server = EmulatorHTTPServer((self.host, self._requested_port), self._backend)
        logger.info("incident emulator listening on %s", self.url)
        return self._server

    def start(self) -> Emulator:
        """Start serving in a background thread; returns ``self``."""
        server = self._open()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="incident-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted or until another thread calls :meth:`stop`."""
        server = self._open()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            logger.info("incident emulator interrupted")
        finally:
            self._close(server)

    def stop(self) -> None:
        """Stop serving, close open connections and the listening socket; safe to call twice.

        Call it from another thread than the one running :meth:`serve_forever`.
        """
        server = self._server
        if server is None:
            return
        server.shutdown()  # returns once the serve_forever loop (either mode) has exited
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close(server)

    def _close(self, server: EmulatorHTTPServer) -> None:
        with self._lifecycle:
            if self._server is not server:
                return  # already closed by the other side of a stop()/serve_forever() pair
            self._server = None
        server.close_connections()
        server.server_close()
        logger.info("incident emulator stopped")

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._server is not None

    # -- addresses --------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (only while running)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() or use it as a context manager")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The stack URL, e.g. ``http://127.0.0.1:53211`` (clients append the plugin path)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The RPC base URL on the ``grafana-irm-app`` plugin, with its trailing slash."""
        return self.url + API_PATH.format(plugin_id=self.plugin_ids[0])

    # -- knobs ------------------------------------------------------------------------------------

    def prerender(self) -> int:
        """Render and encode every incident's hot answers now, so the first fetch is served from the cache.

        ``GetIncident``, ``GetLabels``, ``QueryActivity`` and ``QueryIncidentPreviews`` answers are
        cached per incident after their first request anyway (and dropped when a write changes them);
        benchmarks call this before measuring so that the emulator's first pass costs what its later
        ones do. Returns how many incidents were rendered (it stops when the cache is full).

        ```python
        emu = Emulator(seed=1, incidents=2000).start()
        emu.prerender()  # 2000
        ```
        """
        api = self._backend.api
        with self.state.lock:
            return api.wire.prerender(list(self.state.incidents.values()))

    @property
    def latency(self) -> float:
        """Seconds added to every response."""
        return self._backend.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._backend.latency = float(seconds)

    def inject(
        self,
        kind: str,
        *,
        method: str | None = None,
        incident_id: str | None = None,
        times: int | None = 1,
        retry_after: int | str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with a fault (``times=None``: until cleared).

        ``kind`` is an HTTP status as a string (``"503"``, ``"429"`` …), ``"drop"``, ``"slow"``,
        ``"html"`` or ``"error200"``. ``method`` (``"Service.Method"``) and ``incident_id``
        (matched against ``incidentID`` or ``query.incidentID``) narrow which requests it hits.
        ``retry_after`` (seconds or any string, e.g. an HTTP date) is sent verbatim as ``Retry-After``.
        """
        self._fault_plan.inject(kind, method=method, incident_id=incident_id, times=times, retry_after=retry_after)

    def clear_faults(self) -> None:
        """Remove every scripted fault (random fault probabilities stay)."""
        self._fault_plan.clear()

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the requests handled so far, oldest first."""
        with self._backend.records_lock:
            return list(self._backend.records)

    def reset_requests(self) -> None:
        """Forget the recorded requests."""
        with self._backend.records_lock:
            self._backend.records.clear()

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        name = f" scenario={self.scenario.name}" if self.scenario else ""
        return f"<Emulator {where}{name} seed={self.seed} incidents={len(self.state.incidents)}>"
