"""Scenario presets: a seeded world in one word, ``Emulator(scenario="demo")``.

Every scenario is the same organisation (:mod:`.world`) with the same planted effects
(:mod:`.seed`); they differ in size and seed:

=========  ======  =========  ==================================================================
name       seed    incidents  for
=========  ======  =========  ==================================================================
``demo``   36      1,000      notebooks, the demo and reviews: ~14 months, planted effects clear
``small``  0       150        quick tests and examples (effects present, samples small)
``large``  0       20,000     benchmarks and paging through a big org
``empty``  0       0          write flows: the catalogue (users, roles, severities, label keys,
                              statuses) and no incidents
=========  ======  =========  ==================================================================

What the ``demo`` scenario's seed produces (resolved, non-drill incidents; time to resolve =
``incidentEnd - incidentStart``, falling back to created/closed time; before/after 2026-05-01):

- Major: 145 before, 158 after; median 152.8 → 92.9 min (-39%): the planted improvement, which a
  permutation test on the medians calls significant (p < 0.01).
- Minor: 196 before, 207 after; median 320.2 → 286.0 min (-11%) with no change in how the data is
  drawn: a permutation test does not call it significant (p > 0.2).
- ``team:payments`` median about 1.8 times the other teams' within each severity.

``tests/emulator/test_planted_effects.py`` recomputes these with plain pandas on frames fetched
with ``ia.fetch``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named preset: the seed and size of the seeded world."""

    name: str
    seed: int
    incidents: int
    description: str


SCENARIOS: dict[str, Scenario] = {
    "demo": Scenario("demo", 36, 1000, "~14 months of a four-team org with every planted effect clearly visible"),
    "small": Scenario("small", 0, 150, "a small org history for quick tests and examples"),
    "large": Scenario("large", 0, 20_000, "a big org for benchmarks and paging"),
    "empty": Scenario("empty", 0, 0, "the catalogue (users, roles, severities, label keys, statuses), no incidents"),
}
"""Scenario name → preset."""


def scenario(name: str) -> Scenario:
    """The preset called ``name``; a ValueError lists the known names."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}") from None
