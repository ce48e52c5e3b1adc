"""Bulk label changes from DataFrames: plan → dry run → apply, safely; and label clean-up.

```python
from incident_analytics.bulk import apply_label_changes, find_label_duplicates, merge_plan

groups = find_label_duplicates(data.labels)          # near-duplicate values, with counts
plan = merge_plan(groups, into="customer-facing")    # add the canonical value, remove the others
apply_label_changes(client, plan, dry_run=True)      # what would be sent
result = apply_label_changes(client, plan, journal="merge.jsonl")
```
Modules: :mod:`.plan` (diff desired vs current), :mod:`.apply` (concurrent, journaled, checked
writes), :mod:`.hygiene` (duplicates and merges), :mod:`.journal`, :mod:`.validate`, :mod:`.frames`.
"""

from __future__ import annotations

from .apply import apply_label_changes
from .frames import PLAN_COLUMNS, RESULT_COLUMNS, LabelPlan, LabelResult
from .hygiene import find_label_duplicates, merge_plan
from .journal import Journal
from .plan import plan_label_changes

__all__ = [
    "PLAN_COLUMNS",
    "RESULT_COLUMNS",
    "Journal",
    "LabelPlan",
    "LabelResult",
    "apply_label_changes",
    "find_label_duplicates",
    "merge_plan",
    "plan_label_changes",
]
