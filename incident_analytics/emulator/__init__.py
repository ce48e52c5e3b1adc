"""A faithful, stateful local server of the Grafana Incident (IRM) JSON/HTTP RPC API.

```python
from incident_analytics.emulator import Emulator

with Emulator(seed=0, incidents=300) as emu:
    ...  # point a client at emu.url with emu.token

with Emulator(scenario="demo") as emu:   # or "small", "large", "empty"
    ...
```

The seeded world (teams in four time zones, bursts of activity, heavy-tailed durations) and the
effects planted in it for analyses to find are described in :mod:`.seed`; the presets and the
numbers the demo's seed produces in :mod:`.scenarios`.

Modules, one job each: :mod:`.app` (the :class:`Emulator` façade), :mod:`.server` (HTTP, auth,
routing, faults, latency, rate limit, gzip), :mod:`.handlers` (the RPC methods),
:mod:`.handlers_org` (the org-wide methods), :mod:`.state` (the in-memory model and its writes),
:mod:`.org` (catalogue writes), :mod:`.seed` (deterministic data), :mod:`.world` (the seeded org),
:mod:`.scenarios` (presets),
:mod:`.query` (the ``queryString`` language), :mod:`.render` (model → wire JSON),
:mod:`.wire` (encoded hot answers, cached per incident version),
:mod:`.paging` (cursors), :mod:`.faults` (fault and rate-limit knobs), :mod:`.request` (request
validation), :mod:`.times` (RFC 3339 times), :mod:`.model` (the records).
"""

from __future__ import annotations

from incident_analytics.emulator.app import Emulator
from incident_analytics.emulator.handlers import IMPLEMENTED_METHODS, UNVERSIONED_ONLY
from incident_analytics.emulator.scenarios import SCENARIOS, Scenario
from incident_analytics.emulator.server import RequestRecord

__all__ = ["Emulator", "IMPLEMENTED_METHODS", "RequestRecord", "SCENARIOS", "Scenario", "UNVERSIONED_ONLY"]
