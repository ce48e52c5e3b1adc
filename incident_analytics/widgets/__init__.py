"""ipywidgets forms to declare and update incidents, for JupyterLab and Voilà.

```python
from incident_analytics.widgets import DeclareIncidentForm, UpdateIncidentForm

DeclareIncidentForm(client)                       # title, severity, labels, … and a Declare button
UpdateIncidentForm(client, incident_id="17")      # change what you need; Apply sends only that
```
Both expose ``values`` (get and set) and ``submit()``, so they can be driven from code too.
"""

from __future__ import annotations

from .declare import DeclareIncidentForm
from .update import UpdateIncidentForm

__all__ = ["DeclareIncidentForm", "UpdateIncidentForm"]
