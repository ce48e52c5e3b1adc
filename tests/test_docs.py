"""docs/: every citation in the code points into the repository, and every cited anchor exists.

Comments once cited a fact sheet, pull requests and docs pages by private short keys that no clone
holds. They now cite ``docs/<page>.md#<anchor>``; these tests keep it that way.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SCANNED = ("incident_analytics", "tests", "scripts", "benchmarks", "notebooks")
SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints"}

# Citations of things outside the repository. This file spells them, so it is not scanned.
FORBIDDEN = {
    "the shared fact sheet": re.compile(r"FACTS(?:\.md)?\s*§|\bFACTS\.md\b"),
    "a gcx short key": re.compile(r"\bGCX#\d+"),
    "a docs-page short key": re.compile(r"\bD-(?:\d+|start|auth|err|set|wh)\b"),
    "a file outside the repository": re.compile(r"\.\./shared/|/work/shared/"),
}
DOC_REFERENCE = re.compile(r"\bdocs/([\w.-]+\.md)(?:#([\w-]+))?")
MARKDOWN_LINK = re.compile(r"\]\(([\w.-]+\.md)(?:#([\w-]+))?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@cache
def _text_files() -> tuple[Path, ...]:
    files = [ROOT / "README.md"]
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and not SKIPPED_PARTS & set(path.parts) and path != Path(__file__).resolve():
                files.append(path)
    readable = []
    for path in files:
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        readable.append(path)
    return tuple(readable)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens.

    >>> github_anchor("Deprecated `QueryIncidents`")
    'deprecated-queryincidents'
    >>> github_anchor("In-band errors on HTTP 200")
    'in-band-errors-on-http-200'
    """
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


@cache
def anchors_of(page: Path) -> frozenset[str]:
    """Every heading anchor of a Markdown page, duplicates numbered as GitHub does (``-1``, ``-2``)."""
    seen: Counter[str] = Counter()
    anchors = set()
    in_code = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        match = None if in_code else HEADING.match(line)
        if match:
            base = github_anchor(match.group(2))
            anchors.add(base if not seen[base] else f"{base}-{seen[base]}")
            seen[base] += 1
    return frozenset(anchors)


def _citations() -> list[tuple[str, str, str | None]]:
    """(where, page, anchor) for every ``docs/<page>.md[#anchor]`` in the scanned files."""
    found = []
    for path in _text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in DOC_REFERENCE.finditer(line):
                found.append((f"{path.relative_to(ROOT)}:{number}", match.group(1), match.group(2)))
    return found


def test_the_docs_pages_exist() -> None:
    for page in ("README.md", "api.md", "design.md", "metrics.md"):
        assert (DOCS / page).is_file(), f"docs/{page} is missing"


def test_github_anchors_match_the_headings_the_code_relies_on() -> None:
    assert github_anchor("Key value labels") == "key-value-labels"
    assert github_anchor("RFC 7807 problem details") == "rfc-7807-problem-details"
    assert github_anchor("See [the API](api.md) here") == "see-the-api-here"
    assert {"paging", "errors", "time-formats", "unknown-incident-ids"} <= anchors_of(DOCS / "api.md")


@pytest.mark.parametrize("kind", sorted(FORBIDDEN))
def test_no_file_cites_what_a_clone_does_not_hold(kind: str) -> None:
    pattern = FORBIDDEN[kind]
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}"
        for path in _text_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, f"{kind} cited; cite docs/<page>.md#<anchor> instead:\n" + "\n".join(offenders)


def test_the_code_cites_the_docs() -> None:
    # The point of docs/: the API's quirks are explained there, and the code says where.
    pages = Counter(page for _, page, _ in _citations())
    assert pages["api.md"] >= 30, pages


def test_every_cited_page_and_anchor_exists() -> None:
    missing = []
    for where, page, anchor in _citations():
        target = DOCS / page
        if not target.is_file():
            missing.append(f"{where}: docs/{page} does not exist")
        elif anchor and anchor not in anchors_of(target):
            missing.append(f"{where}: docs/{page} has no heading with anchor #{anchor}")
    assert not missing, "\n".join(missing)


def test_links_between_the_docs_pages_resolve() -> None:
    broken = []
    for source in sorted(DOCS.glob("*.md")):
        own = anchors_of(source)
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            for match in MARKDOWN_LINK.finditer(line):
                page, anchor = match.groups()
                target = DOCS / page
                if not target.is_file():
                    broken.append(f"docs/{source.name}:{number}: {page} does not exist")
                elif anchor and anchor not in anchors_of(target):
                    broken.append(f"docs/{source.name}:{number}: {page} has no #{anchor}")
            for anchor in re.findall(r"\]\(#([\w-]+)\)", line):
                if anchor not in own:
                    broken.append(f"docs/{source.name}:{number}: no #{anchor} on this page")
    assert not broken, "\n".join(broken)


def test_the_readme_points_to_the_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/README.md" in readme
