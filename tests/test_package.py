"""The package root: what ``import incident_analytics as ia`` shows a user, and nothing more."""

from __future__ import annotations

import ast
import builtins
import subprocess
import sys
import warnings

import pytest

import incident_analytics as ia
from incident_analytics import errors


def dunders() -> set[str]:
    return {name for name in vars(ia) if name.startswith("__") and name.endswith("__")}


def test_dir_shows_the_public_names_and_dunders_only() -> None:
    assert set(dir(ia)) == set(ia.__all__) | dunders()
    assert ia.__all__ == sorted(ia.__all__)


def test_no_implementation_detail_leaks_into_the_root() -> None:
    for name in ("annotations", "logging", "_logging"):
        assert name not in dir(ia)
        assert not hasattr(ia, name), name


def test_the_root_does_not_shadow_the_builtin_timeout_error() -> None:
    assert not hasattr(ia, "TimeoutError")
    assert "TimeoutError" not in ia.__all__
    namespace: dict[str, object] = {}
    exec("from incident_analytics import *", namespace)
    assert "TimeoutError" not in namespace
    assert "annotations" not in namespace
    # The builtin still catches what it always caught; ours is RequestTimeoutError.
    assert issubclass(ia.RequestTimeoutError, ia.TransportError)


def test_the_old_name_still_imports_from_errors_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="RequestTimeoutError"):
        old = errors.TimeoutError
    assert old is ia.RequestTimeoutError
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Inside errors.py the builtin is not shadowed any more.
        assert vars(errors).get("TimeoutError") is None
    assert builtins.TimeoutError is not ia.RequestTimeoutError


def test_every_exported_error_is_in_the_hierarchy() -> None:
    for name in ia.__all__:
        value = getattr(ia, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, ia.IncidentAnalyticsError), name


def test_a_fresh_interpreter_sees_the_same_surface() -> None:
    # dir() of a freshly imported package, without anything this test session imported.
    code = "import incident_analytics as ia; print(sorted(set(dir(ia)) - set(ia.__all__)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    extra = ast.literal_eval(out)
    assert all(name.startswith("__") and name.endswith("__") for name in extra), extra
