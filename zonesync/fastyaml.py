"""A fast reader for the plain YAML that descriptions are written in — or "not sure".

libyaml through PyYAML costs a few hundred microseconds per description (an event object and
two marks per token, a Python constructor per node), most of a cold estate load. Almost every
description uses a small, regular part of YAML: block mappings and sequences, one value a
line, plain or simply quoted scalars, one-line flow collections (``[a, b]``,
``{host: x, port: 5060}``) and comments. ``load`` reads exactly that part and gives the same
Python data PyYAML's safe loader gives; anything else — anchors, aliases, tags, block or
multi-line scalars, escapes, tabs, documents markers, duplicate keys, numbers YAML 1.1 reads
in surprising ways, floats, dates, non-text keys, … — makes it answer ``None``, and the caller
uses the full parser, which also reports the problem with its line. It never guesses: a line
it does not fully understand is a ``None``.

Scalars are resolved with PyYAML's own YAML 1.1 resolver, so ``yes``, ``~`` and ``0x1F`` mean
what they mean to PyYAML (the last one is declined: only plain decimal integers, booleans,
nulls and strings are built here).
"""

from __future__ import annotations

import re
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_STR = "tag:yaml.org,2002:str"

# Characters the fast path accepts anywhere: printable, no tab, no CR, no NEL/LS/PS line
# breaks, no BOM, no surrogates (libyaml's reader rules, narrowed).
_UNSURE_CHAR = re.compile("[^\n -~\u00a0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
                          "\U00010000-\U0010ffff]")

# A plain scalar: no indicator first (a '-' only before a letter or digit), then no blank,
# no ':', '#', quote or flow indicator. Narrower than YAML on purpose.
_PLAIN = r"(?:[^\s\-?:,\[\]{}#&*!|>'\"%@`]|-(?=[A-Za-z0-9.]))[^\s:#,\[\]{}'\"]*"
# In block context a ':' not followed by a blank belongs to the scalar (IPv6: 2001:db8::1).
_PLAIN_BLOCK = r"(?:[^\s\-?:,\[\]{}#&*!|>'\"%@`]|-(?=[A-Za-z0-9.]))(?:[^\s:#,\[\]{}'\"]|:(?=[^\s:#,\[\]{}'\"]|:))*"
_DQ = r'"[^"\\]*"'
_SQ = r"'[^']*'(?!')"
_KEY = re.compile(rf"({_PLAIN}|{_DQ}|{_SQ}):(?: +|$)")
_SCALAR_BLOCK = re.compile(rf"{_PLAIN_BLOCK}|{_DQ}|{_SQ}")
_SCALAR_FLOW = re.compile(rf"{_PLAIN}|{_DQ}|{_SQ}")
_SPACES = re.compile(r" *")
_END = re.compile(r"(?: +#.*| *)$")
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)$")
_LINE = re.compile(r"( *)(.*)")

_RESOLVER = Resolver()
_BOOLS = SafeConstructor.bool_values
_NO_RESOLVER = frozenset(c for c in map(chr, range(0x20, 0x7f))
                         if c not in Resolver.yaml_implicit_resolvers)


class _Unsure(Exception):
    """Raised anywhere in the fast path: let the full parser read this file."""


def load(text: str, max_nodes: int) -> dict | None:
    """The description's data, exactly as PyYAML's safe loader builds it, or None if unsure."""
    if _UNSURE_CHAR.search(text):
        return None
    lines = []
    for raw in text.split("\n"):
        indent, content = _LINE.match(raw).groups()
        if not content or content[0] == "#":
            continue
        if content.startswith(("---", "...")):
            return None
        lines.append((len(indent), content))
    if not lines:
        return None
    reader = _Reader(lines, max_nodes)
    try:
        if lines[0][0] != 0 or _is_item(lines[0][1]):
            return None
        data, i = reader.mapping(0, 0)
        if i != len(lines):
            return None
    except (_Unsure, RecursionError):   # [[[[… thousands deep: the full path says so
        return None
    return data


def _is_item(content: str) -> bool:
    return content[0] == "-" and (len(content) == 1 or content[1] == " ")


class _Reader:
    def __init__(self, lines: list[tuple[int, str]], max_nodes: int):
        self.lines = lines
        self.budget = max_nodes

    def _count(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise _Unsure

    # --- block collections ------------------------------------------------------------------

    def block(self, i: int) -> tuple[Any, int]:
        indent, content = self.lines[i]
        if _is_item(content):
            return self.sequence(i, indent)
        return self.mapping(i, indent)

    def mapping(self, i: int, indent: int, first: str | None = None) -> tuple[dict, int]:
        """The block mapping whose keys stand in column ``indent`` from line ``i`` on;
        ``first``: the text of line ``i`` after a sequence item's "- "."""
        self._count()
        lines, out = self.lines, {}
        while i < len(lines):
            if first is not None:
                col, content, first = indent, first, None
            else:
                col, content = lines[i]
                if col != indent or _is_item(content):
                    break
            m = _KEY.match(content)
            if m is None:
                raise _Unsure
            key = _key(m.group(1))
            if key in out:
                raise _Unsure   # a duplicate key: the full parser reports it with its lines
            rest = content[m.end():]
            if not rest or rest[0] == "#":
                self._count()
                i += 1
                if i < len(lines) and lines[i][0] > indent:
                    out[key], i = self.block(i)
                elif i < len(lines) and lines[i][0] == indent and _is_item(lines[i][1]):
                    out[key], i = self.sequence(i, indent)
                else:
                    out[key] = None
            else:
                out[key] = self.inline(rest)
                i += 1
                if i < len(lines) and lines[i][0] > indent:
                    raise _Unsure   # a continuation line: a multi-line scalar or worse
        return out, i

    def sequence(self, i: int, indent: int) -> tuple[list, int]:
        self._count()
        lines, out = self.lines, []
        while i < len(lines):
            col, content = lines[i]
            if col != indent or not _is_item(content):
                break
            body = content[1:]
            stripped = body.lstrip(" ")
            if not stripped or stripped[0] == "#":
                self._count()
                i += 1
                if i < len(lines) and lines[i][0] > indent:
                    item, i = self.block(i)
                else:
                    item = None
            elif _is_item(stripped):
                raise _Unsure   # "- - x": not worth the trouble
            elif _KEY.match(stripped):
                # "- key: value": a mapping whose keys stand in this item's column.
                column = indent + 1 + len(body) - len(stripped)
                item, i = self.mapping(i, column, stripped)
                if i < len(lines) and lines[i][0] > indent:
                    raise _Unsure
            else:
                item = self.inline(stripped)
                i += 1
                if i < len(lines) and lines[i][0] > indent:
                    raise _Unsure
            out.append(item)
        return out, i

    # --- one value on its line ---------------------------------------------------------------

    def inline(self, text: str) -> Any:
        """A value that fills the rest of a line (a trailing comment allowed)."""
        if text[0] in "[{":
            value, pos = self.flow(text, 0)
        else:
            m = _SCALAR_BLOCK.match(text)
            if m is None:
                raise _Unsure
            self._count()
            value, pos = _scalar(m.group()), m.end()
        if not _END.match(text, pos):
            raise _Unsure
        return value

    def flow(self, text: str, pos: int) -> tuple[Any, int]:
        """A one-line flow collection at ``text[pos]`` ('[' or '{'): (value, position after)."""
        self._count()
        closing = "]" if text[pos] == "[" else "}"
        out: Any = [] if closing == "]" else {}
        pos = _SPACES.match(text, pos + 1).end()
        if text[pos:pos + 1] == closing:
            return out, pos + 1
        while True:
            if closing == "}":
                m = _KEY.match(text, pos)
                if m is None or m.end() == len(text):
                    raise _Unsure
                key = _key(m.group(1))
                if key in out:
                    raise _Unsure
                out[key], pos = self.flow_value(text, m.end())
            else:
                value, pos = self.flow_value(text, pos)
                out.append(value)
            pos = _SPACES.match(text, pos).end()
            ch = text[pos:pos + 1]
            if ch == closing:
                return out, pos + 1
            if ch != ",":
                raise _Unsure
            pos = _SPACES.match(text, pos + 1).end()
            if text[pos:pos + 1] in (closing, ",", ""):
                raise _Unsure   # a trailing or doubled comma

    def flow_value(self, text: str, pos: int) -> tuple[Any, int]:
        if text[pos:pos + 1] in ("[", "{"):
            return self.flow(text, pos)
        m = _SCALAR_FLOW.match(text, pos)
        if m is None:
            raise _Unsure
        self._count()
        return _scalar(m.group()), m.end()


def _key(text: str) -> str:
    value = _scalar(text)
    if type(value) is not str:
        raise _Unsure   # a number, boolean or null as a key: the full path words that
    return value


def _scalar(text: str) -> Any:
    first = text[0]
    if first == '"' or first == "'":
        return text[1:-1]
    if first in _NO_RESOLVER or first > "~":
        return text
    tag = _RESOLVER.resolve(ScalarNode, text, (True, False))
    if tag == _STR:
        return text
    if tag == _INT and _DECIMAL.match(text):
        return int(text)
    if tag == _BOOL:
        return _BOOLS[text.lower()]
    if tag == _NULL:
        return None
    raise _Unsure   # floats, dates, octal/hex/base-60 numbers, merge keys: the full path
