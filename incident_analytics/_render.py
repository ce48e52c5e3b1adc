"""Rendering helpers for the reports: Jinja2 environments, escaping, value formatting, embedded charts.

Two environments share the templates in ``incident_analytics/templates/``. HTML templates are
autoescaped by Jinja2; Markdown templates escape every ``{{ ... }}`` through ``finalize``, so text from
the API (titles, notes, labels) cannot become markup in either format. Charts are PNGs embedded as
``data:`` URIs, so a report is one file that opens offline.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

if TYPE_CHECKING:
    from matplotlib.axes import Axes

FORMATS = ("markdown", "html")
SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}
MISSING = "—"


# --------------------------------------------------------------------------------------------------
# What the templates receive.


@dataclass(frozen=True)
class Table:
    """A table as display strings: ``columns``, ``rows``, which column positions are numeric."""

    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    numeric: frozenset[int] = frozenset()
    caption: str = ""
    empty: str = "Nothing to show."


@dataclass(frozen=True)
class Chart:
    """One chart as an embedded PNG (``data:image/png;base64,...``) with its title and caption."""

    title: str
    data_uri: str
    width: int
    height: int
    caption: str = ""


@dataclass(frozen=True)
class Section:
    """One titled section: its anchor ``id``, a one-line ``prompt`` for blanks, and what it shows."""

    id: str
    title: str
    prompt: str = ""
    verdict: str = ""
    notes: Sequence[str] = ()
    facts: Sequence[tuple[str, str]] = ()
    tables: Sequence[Table] = ()
    charts: Sequence[Chart] = ()
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# Escaping for Markdown.

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_SPACES = re.compile(r"\s*\n\s*")


def md_escape(value: object) -> str:
    """Text shown literally by any Markdown renderer: HTML characters as entities, Markdown
    punctuation backslash-escaped, line breaks folded into spaces (for one-line places)."""
    text = _SPACES.sub(" ", str(value).strip())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def _md_finalize(value: object) -> object:
    if isinstance(value, Markup):
        return value
    return md_escape("" if value is None else value)


def _md_quote(value: object) -> Markup:
    """A multi-line text (a note) in full, as a Markdown block quote indented under a list item."""
    lines = str(value).strip().splitlines() or [""]
    escaped = [_MD_SPECIAL.sub(r"\\\1", html.escape(line.rstrip(), quote=False)) for line in lines]
    return Markup("\n".join(f"  > {line}" if line else "  >" for line in escaped))


def _md_code(value: object) -> Markup:
    """Text inside a code span: nothing is interpreted there except a backtick, which is replaced."""
    return Markup(" ".join(str(value).replace("`", "'").split()))


def _md_cell(value: object) -> Markup:
    return Markup(md_escape(value))


def _md_table(table: Table) -> Markup:
    """A GitHub-flavoured Markdown table, every cell escaped (pipes included)."""
    align = ["---:" if i in table.numeric else "---" for i in range(len(table.columns))]
    lines = [
        "| " + " | ".join(md_escape(c) for c in table.columns) + " |",
        "|" + "|".join(align) + "|",
        *("| " + " | ".join(md_escape(c) or " " for c in row) + " |" for row in table.rows),
    ]
    return Markup("\n".join(lines))


def _md_link(incident: dict[str, Any]) -> Markup:
    """The incident's link as an autolink (only ever an http(s) URL), else its path as text."""
    link = incident.get("link")
    if link:
        return Markup(f"<{link.replace('>', '%3E').replace(' ', '%20')}>")
    return Markup(md_escape(incident.get("path") or "not known"))


def _md_codes(values: Sequence[object]) -> Markup:
    """Labels as code spans, or "none"."""
    return Markup(", ".join(f"`{_md_code(v)}`" for v in values) or "none")


@functools.cache
def environment(fmt: str) -> jinja2.Environment:
    """The Jinja2 environment for ``fmt`` ("html" or "markdown"), templates loaded from the package."""
    loader = jinja2.PackageLoader("incident_analytics", "templates")
    if fmt == "html":
        return jinja2.Environment(
            loader=loader,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=True),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    env = jinja2.Environment(
        loader=loader,
        autoescape=False,
        finalize=_md_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(quote=_md_quote, md_table=_md_table, md_link=_md_link, md_codes=_md_codes)
    return env


def render(name: str, fmt: str, context: dict[str, Any]) -> str:
    """Render template ``name`` (``postmortem`` or ``review``) in ``fmt`` with ``context``."""
    suffix = "html.j2" if fmt == "html" else "md.j2"
    text = environment(fmt).get_template(f"{name}.{suffix}").render(**context)
    if fmt == "markdown":
        text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return text


def check_format(fmt: object) -> str:
    """``fmt`` if it is a known report format, else a ValueError naming the choices."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(repr(f) for f in FORMATS)}, got {fmt!r}")
    return str(fmt)


def format_for(path: object) -> str:
    """The report format a file name asks for, from its suffix (.md/.markdown or .html/.htm)."""
    from pathlib import Path

    suffix = Path(str(path)).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"cannot tell the report format from {str(path)!r}: use a name ending in .html or .md")
    return SUFFIXES[suffix]


# --------------------------------------------------------------------------------------------------
# Values as text.


def missing(value: object) -> bool:
    """True for every spelling of a missing value in a frame cell: None, NA, NaT, NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    if isinstance(value, np.datetime64 | np.timedelta64):
        return bool(np.isnat(value))
    return False


def when(value: object, tz: str = "UTC") -> str:
    """A time as ``2026-03-01 14:05`` in ``tz`` (the zone is stated once per report), or a dash."""
    if missing(value):
        return MISSING
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return stamp.tz_convert(tz).strftime("%Y-%m-%d %H:%M")


def duration(value: object) -> str:
    """A duration for people: ``45 min``, ``3 h 05 min``, ``2 d 4 h``; a dash when missing."""
    if missing(value):
        return MISSING
    delta = pd.Timedelta(value)  # type: ignore[arg-type]
    sign = "-" if delta < pd.Timedelta(0) else ""
    seconds = round(abs(delta.total_seconds()))
    if seconds < 60:
        text = f"{seconds} s"
    elif seconds < 3600:
        text = f"{seconds // 60} min"
    elif seconds < 86400:
        text = f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    else:
        text = f"{seconds // 86400} d {seconds % 86400 // 3600} h"
    return sign + text


def hours(value: object) -> str:
    """A duration in hours with one decimal (``12.5 h``), for tables that compare many durations."""
    if missing(value):
        return MISSING
    return f"{pd.Timedelta(value).total_seconds() / 3600:,.1f} h"  # type: ignore[arg-type]


def text(value: object) -> str:
    """Any value as display text; missing values as a dash."""
    if missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def count(value: object) -> str:
    """An integer count with thousands separators."""
    return MISSING if missing(value) else f"{int(value):,}"  # type: ignore[call-overload]


def share(value: object) -> str:
    """A fraction as a percentage (``0.125`` → ``12.5%``)."""
    return MISSING if missing(value) else f"{float(value):.1%}"  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Charts.


def chart(
    draw: Callable[[Axes], Axes], *, caption: str = "", size: tuple[float, float] = (8.0, 4.0), dpi: int = 110
) -> Chart:
    """Run a plotting function on a fresh figure and embed the result as a base64 PNG.

    The figure is a bare ``matplotlib.figure.Figure`` (no pyplot): nothing is shown, nothing is left
    open, and it works in threads and headless processes alike. The chart's title is the axes title.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=dpi, layout="constrained")
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # matplotlib times its search for the best legend spot and warns past one second, which a busy
        # machine reaches on a dense chart; the chart is still right, so this is not the user's concern.
        warnings.filterwarnings("ignore", message='Creating legend with loc="best" can be slow', category=UserWarning)
        axes = draw(figure.add_subplot())
        figure.savefig(buffer, format="png", dpi=dpi)
    width, height = (round(float(v)) for v in figure.get_size_inches() * dpi)
    title = axes.get_title() or axes.get_title("left") or "Chart"
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Chart(title=title, data_uri=f"data:image/png;base64,{encoded}", width=width, height=height, caption=caption)
