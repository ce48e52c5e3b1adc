"""The ``queryString`` language of ``QueryIncidentPreviews``/``QueryIncidents`` (docs/api.md#query-language).

Grammar (whitespace separates items; quotes are ``"`` or ``'``, no escapes)::

    query := item*                  juxtaposition = AND
    item  := "or(" item* ")"        OR group, nestable
           | key ":" value          a term

Terms:

- ``isdrill:true|false``, ``status:active|resolved`` (case-insensitive)
- ``severity:<label>``: the severity label, case-insensitively
- ``label:<text>``: a free-form Tags label; ``label:"k:v"`` also matches keyed label ``k=v``
  (one live report saw that, another disagrees; we follow the positive one: docs/api.md#query-language)
- ``field:<key>:<value>``: keyed label ``key=value``
- ``declared:``, ``started:``, ``resolved:``, ``ended:`` + ``<from>,<to>``: inclusive RFC 3339
  bounds on createdTime, incidentStart, closedTime, incidentEnd; either bound may be empty; an
  incident whose time is unset never matches

``any(...)`` is refused (it returns HTTP 400 live, docs/api.md#query-language), and so is anything else the table
in docs/api.md#query-language does not list: unknown keys (``modified:``, ``created:``), bare words (``and``),
empty values, unbalanced quotes or parentheses. Label, key and value comparisons are
case-insensitive (an inference; the live service matches severity that way).

The module is independent of the rest of the emulator: :func:`parse` gives a small AST whose
nodes evaluate against a :class:`Subject`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

from incident_analytics.emulator.times import parse_time

RANGE_KEYS = ("declared", "started", "resolved", "ended")
"""Date-range term keys, mapping to createdTime, incidentStart, closedTime, incidentEnd."""


class QuerySyntaxError(ValueError):
    """The query string is malformed or uses something the service rejects (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class Subject:
    """What a query can see of one incident; texts are already case-folded."""

    is_drill: bool
    status: str
    severity: str
    tags: frozenset[str]
    keyed: frozenset[tuple[str, str]]
    declared: int | None
    started: int | None
    resolved: int | None
    ended: int | None

    def has_label_text(self, text: str) -> bool:
        """Tags label ``text``, or (for ``k:v`` text) keyed label ``k=v``; ``text`` is case-folded."""
        if text in self.tags:
            return True
        key, sep, value = text.partition(":")
        return bool(sep) and (key, value) in self.keyed

    def time(self, key: str) -> int | None:
        """The time a range term with this key looks at."""
        if key == "declared":
            return self.declared
        if key == "started":
            return self.started
        if key == "resolved":
            return self.resolved
        return self.ended


class Node(Protocol):
    """A node of the query AST."""

    def matches(self, subject: Subject) -> bool:
        """Whether the incident described by ``subject`` satisfies this node."""
        ...


@dataclass(frozen=True, slots=True)
class And:
    """All items must match (juxtaposition); an empty ``And`` matches everything."""

    items: tuple[Node, ...]

    def matches(self, subject: Subject) -> bool:
        """True when every item matches."""
        return all(item.matches(subject) for item in self.items)


@dataclass(frozen=True, slots=True)
class Or:
    """At least one item must match: ``or(a b ...)``."""

    items: tuple[Node, ...]

    def matches(self, subject: Subject) -> bool:
        """True when any item matches."""
        return any(item.matches(subject) for item in self.items)


@dataclass(frozen=True, slots=True)
class DrillTerm:
    """``isdrill:true|false``."""

    value: bool

    def matches(self, subject: Subject) -> bool:
        """True when the drill flag equals ``value``."""
        return subject.is_drill is self.value


@dataclass(frozen=True, slots=True)
class StatusTerm:
    """``status:active|resolved``."""

    status: str

    def matches(self, subject: Subject) -> bool:
        """True when the status equals ``status``."""
        return subject.status == self.status


@dataclass(frozen=True, slots=True)
class SeverityTerm:
    """``severity:<label>``, compared case-insensitively."""

    label: str

    def matches(self, subject: Subject) -> bool:
        """True when the severity label equals ``label`` ignoring case."""
        return subject.severity == self.label


@dataclass(frozen=True, slots=True)
class LabelTerm:
    """``label:<text>``: a Tags label, or keyed label ``k=v`` when the text is ``k:v``."""

    text: str

    def matches(self, subject: Subject) -> bool:
        """True when the incident carries the label."""
        return subject.has_label_text(self.text)


@dataclass(frozen=True, slots=True)
class FieldTerm:
    """``field:<key>:<value>``: keyed label ``key=value``."""

    key: str
    value: str

    def matches(self, subject: Subject) -> bool:
        """True when the incident carries keyed label ``key=value``."""
        return (self.key, self.value) in subject.keyed


@dataclass(frozen=True, slots=True)
class RangeTerm:
    """``declared|started|resolved|ended:<from>,<to>`` with inclusive, optional bounds."""

    key: str
    start: int | None
    end: int | None

    def matches(self, subject: Subject) -> bool:
        """True when the time is set and inside the bounds."""
        value = subject.time(self.key)
        if value is None:
            return False
        if self.start is not None and value < self.start:
            return False
        return not (self.end is not None and value > self.end)


# --- tokenizer -------------------------------------------------------------------------------

# A word is a run of segments: (text, quoted). Quoted text is literal (spaces, colons, parens).
Segments = tuple[tuple[str, bool], ...]


@dataclass(frozen=True, slots=True)
class _Word:
    segments: Segments
    pos: int

    @property
    def raw(self) -> str:
        return "".join(text for text, _ in self.segments)


@dataclass(frozen=True, slots=True)
class _Paren:
    char: str
    pos: int
    glued: bool  # "(" written right after a word, as in "or("


_Token = _Word | _Paren


def tokenize(text: str) -> list[_Token]:
    """Split a query string into words and parentheses.

    Raises:
        QuerySyntaxError: a quote is not closed.
    """
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char in "()":
            glued = (
                char == "("
                and i > 0
                and bool(tokens)
                and isinstance(tokens[-1], _Word)
                and (not text[i - 1].isspace() and text[i - 1] not in "()")
            )
            tokens.append(_Paren(char, i, glued))
            i += 1
            continue
        start = i
        segments: list[tuple[str, bool]] = []
        plain: list[str] = []
        while i < n and not text[i].isspace() and text[i] not in "()":
            if text[i] in "\"'":
                quote = text[i]
                close = text.find(quote, i + 1)
                if close < 0:
                    raise QuerySyntaxError(f"unterminated {quote} quote at position {i} in {text[start:]!r}")
                if plain:
                    segments.append(("".join(plain), False))
                    plain = []
                segments.append((text[i + 1 : close], True))
                i = close + 1
            else:
                plain.append(text[i])
                i += 1
        if plain:
            segments.append(("".join(plain), False))
        tokens.append(_Word(tuple(segments), start))
    return tokens


def _split_colon(segments: Segments) -> tuple[str, Segments] | None:
    """Split at the first unquoted colon: (text before it, segments after it); None if no colon."""
    head: list[str] = []
    for index, (text, quoted) in enumerate(segments):
        if not quoted and ":" in text:
            before, _, after = text.partition(":")
            head.append(before)
            rest: list[tuple[str, bool]] = [(after, False)] if after else []
            rest.extend(segments[index + 1 :])
            return "".join(head), tuple(rest)
        head.append(text)
    return None


def _join(segments: Segments) -> str:
    return "".join(text for text, _ in segments)


# --- parser ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def parse(text: str) -> Node:
    """Parse a query string into an AST; the empty string gives a node matching everything.

    Parsed queries are kept (a listing sends the same query for every page); the nodes are immutable.

    Raises:
        QuerySyntaxError: the string is malformed; the message names the offending term.
    """
    tokens = tokenize(text)
    items, index = _parse_items(tokens, 0, depth=0)
    if index != len(tokens):  # pragma: no cover - _parse_items consumes all or raises
        raise QuerySyntaxError(f"unexpected input at position {_pos(tokens[index])}")
    if len(items) == 1:
        return items[0]
    return And(tuple(items))


def _pos(token: _Token) -> int:
    return token.pos


def _parse_items(tokens: list[_Token], index: int, *, depth: int) -> tuple[list[Node], int]:
    items: list[Node] = []
    while index < len(tokens):
        token = tokens[index]
        if isinstance(token, _Paren):
            if token.char == ")":
                if depth == 0:
                    raise QuerySyntaxError(f"unbalanced ')' at position {token.pos}")
                return items, index
            raise QuerySyntaxError(f"'(' at position {token.pos} must follow or")
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if isinstance(following, _Paren) and following.char == "(" and following.glued:
            operator = token.raw.casefold()
            if operator == "any":
                raise QuerySyntaxError("any(...) is not supported; use or(...)")
            if operator != "or" or any(quoted for _, quoted in token.segments):
                raise QuerySyntaxError(f"unknown operator {token.raw!r}(...); only or(...) is supported")
            group, index = _parse_items(tokens, index + 2, depth=depth + 1)
            if index >= len(tokens):
                raise QuerySyntaxError(f"unbalanced '(': or( at position {token.pos} is never closed")
            if not group:
                raise QuerySyntaxError(f"empty or() at position {token.pos}")
            items.append(Or(tuple(group)))
            index += 1  # the closing ")"
            continue
        items.append(parse_term(token.segments))
        index += 1
    if depth > 0:
        raise QuerySyntaxError("unbalanced '(': or( is never closed")
    return items, index


def parse_term(segments: Segments) -> Node:
    """Parse one ``key:value`` word (as tokenizer segments) into a term node."""
    word = _join(segments)
    split = _split_colon(segments)
    if split is None:
        raise QuerySyntaxError(f"unexpected bare word {word!r}; terms look like key:value")
    key, rest = split
    key = key.casefold()
    value = _join(rest)
    if not value:
        raise QuerySyntaxError(f"empty value in term {word!r}")
    if key == "isdrill":
        folded = value.casefold()
        if folded not in ("true", "false"):
            raise QuerySyntaxError(f"isdrill must be true or false in term {word!r}")
        return DrillTerm(folded == "true")
    if key == "status":
        folded = value.casefold()
        if folded not in ("active", "resolved"):
            raise QuerySyntaxError(f"status must be active or resolved in term {word!r}")
        return StatusTerm(folded)
    if key == "severity":
        return SeverityTerm(value.casefold())
    if key == "label":
        return LabelTerm(value.casefold())
    if key == "field":
        inner = _split_colon(rest)
        if inner is None:
            raise QuerySyntaxError(f"field term {word!r} must look like field:<key>:<value>")
        field_key, value_segments = inner
        field_value = _join(value_segments)
        if not field_key or not field_value:
            raise QuerySyntaxError(f"empty key or value in term {word!r}")
        return FieldTerm(field_key.casefold(), field_value.casefold())
    if key in RANGE_KEYS:
        return _parse_range(key, value, word)
    raise QuerySyntaxError(f"unknown term {key!r} in {word!r}")


def _parse_range(key: str, value: str, word: str) -> RangeTerm:
    if value.count(",") != 1:
        raise QuerySyntaxError(f"{key} range must be <from>,<to> in term {word!r}")
    low_text, high_text = value.split(",")
    if not low_text and not high_text:
        raise QuerySyntaxError(f"{key} range has neither bound in term {word!r}")
    try:
        low = parse_time(low_text) if low_text else None
        high = parse_time(high_text) if high_text else None
    except ValueError as exc:
        raise QuerySyntaxError(f"bad time in term {word!r}: {exc}") from None
    return RangeTerm(key, low, high)
