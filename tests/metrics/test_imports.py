"""The package stays light: importing it or its metrics never loads matplotlib."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_importing_the_package_and_metrics_does_not_load_matplotlib() -> None:
    out = run(
        """
        import sys
        import incident_analytics as ia
        import incident_analytics.metrics
        from incident_analytics.metrics import mttr, survival, compare, label_stats, lifecycle, workload
        assert ia.metrics.mttr is mttr
        print(sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib"))
        """
    )
    assert out == "[]"


def test_plots_is_an_explicit_import() -> None:
    out = run(
        """
        import sys
        import incident_analytics as ia
        from incident_analytics import plots
        print("matplotlib" in sys.modules, callable(plots.incidents_over_time))
        """
    )
    assert out == "True True"


def test_every_public_metric_is_at_the_package_path() -> None:
    from incident_analytics import metrics

    for name in (
        "time_to_resolve",
        "mttr",
        "survival",
        "compare",
        "label_stats",
        "label_cooccurrence",
        "incident_counts",
        "lifecycle",
        "workload",
    ):
        function = getattr(metrics, name)
        assert callable(function) and function.__doc__ and ">>>" in function.__doc__
