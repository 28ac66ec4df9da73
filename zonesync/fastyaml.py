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

import functools
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
_SCALAR = rf"{_PLAIN}|{_DQ}|{_SQ}"
_KEY = re.compile(rf"({_SCALAR}):(?: +|$)")
_KEY_REST = re.compile(rf"({_SCALAR}):(?: +(.*)|$)")   # the key, and what follows it (or None)
_INLINE_SCALAR = re.compile(rf"({_PLAIN_BLOCK}|{_DQ}|{_SQ})(?: +#.*| *)$")
_END = re.compile(r"(?: +#.*| *)$")
_SPACES = re.compile(r" *")
# One entry of a flow collection whose value is a scalar, with what follows it.
_FLOW_PAIR = re.compile(rf"({_SCALAR}): +({_SCALAR}) *([,}}]) *")
_FLOW_ITEM = re.compile(rf"({_SCALAR}) *([,\]]) *")
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)$")
# A whole one-line flow collection of scalars only (the common case) checked in one match;
# its entries are then taken from the part inside the brackets with findall, which finds
# exactly them: between two entries stands only " *, *", and no scalar starts with a blank
# or a ','.
_SIMPLE_MAP = re.compile(rf"\{{( *(?:{_SCALAR}): +(?:{_SCALAR}) *"
                         rf"(?:, *(?:{_SCALAR}): +(?:{_SCALAR}) *)*)\}}(?: +#.*| *)$")
_SIMPLE_SEQ = re.compile(rf"\[( *(?:{_SCALAR}) *(?:, *(?:{_SCALAR}) *)*)\](?: +#.*| *)$")
_PAIRS = re.compile(rf"({_SCALAR}): +({_SCALAR})")
_ITEMS = re.compile(_SCALAR)

_RESOLVER = Resolver()
_BOOLS = SafeConstructor.bool_values
_NO_RESOLVER = frozenset(c for c in map(chr, range(0x20, 0x7f))
                         if c not in Resolver.yaml_implicit_resolvers)


class _Unsure(Exception):
    """Raised anywhere in the fast path: let the full parser read this file."""


def load(text: str, max_nodes: int) -> dict | None:
    """The description's data, exactly as PyYAML's safe loader builds it, or None if unsure.

    ``max_nodes``: more values than this (counted generously, before reading) is "unsure"."""
    if _UNSURE_CHAR.search(text):
        return None
    # A line makes at most three nodes ("- key: value": a sequence, a mapping, a scalar), a
    # flow collection one more, a comma one more: an upper bound of what the full parser counts.
    bound = 3 * text.count("\n") + 3 + 2 * (text.count("[") + text.count("{")) + text.count(",")
    if bound > max_nodes:
        return None
    lines = []
    for raw in text.split("\n"):
        content = raw.lstrip(" ")
        if not content or content[0] == "#":
            continue
        if content.startswith(("---", "...")):
            return None
        lines.append((len(raw) - len(content), content, _is_item(content)))
    if not lines or lines[0][0] != 0 or lines[0][2]:
        return None
    try:
        data, i = _mapping(lines, 0, 0, None)
    except (_Unsure, RecursionError):   # [[[[… thousands deep: the full path says so
        return None
    return data if i == len(lines) else None


def _is_item(content: str) -> bool:
    return content[0] == "-" and (len(content) == 1 or content[1] == " ")


# --- block collections ----------------------------------------------------------------------

def _block(lines: list, i: int) -> tuple[Any, int]:
    indent, _content, item = lines[i]
    if item:
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent, None)


def _mapping(lines: list, i: int, indent: int, first: str | None) -> tuple[dict, int]:
    """The block mapping whose keys stand in column ``indent`` from line ``i`` on; ``first``:
    the text of line ``i`` after a sequence item's "- "."""
    out: dict = {}
    n = len(lines)
    while i < n:
        if first is not None:
            content, first = first, None
        else:
            col, content, item = lines[i]
            if col != indent or item:
                break
        m = _KEY_REST.match(content)
        if m is None:
            raise _Unsure
        key, rest = m.groups()
        key = _scalar(key)
        if type(key) is not str:
            raise _Unsure   # a number, boolean or null as a key: the full path words that
        if key in out:
            raise _Unsure   # a duplicate key: the full parser reports it with its lines
        i += 1
        if not rest or rest[0] == "#":
            if i < n and lines[i][0] > indent:
                out[key], i = _block(lines, i)
            elif i < n and lines[i][0] == indent and lines[i][2]:
                out[key], i = _sequence(lines, i, indent)
            else:
                out[key] = None
        else:
            out[key] = _inline(rest)
            if i < n and lines[i][0] > indent:
                raise _Unsure   # a continuation line: a multi-line scalar or worse
    return out, i


def _sequence(lines: list, i: int, indent: int) -> tuple[list, int]:
    out: list = []
    n = len(lines)
    while i < n:
        col, content, item = lines[i]
        if col != indent or not item:
            break
        body = content[1:]
        stripped = body.lstrip(" ")
        if not stripped or stripped[0] == "#":
            i += 1
            if i < n and lines[i][0] > indent:
                item, i = _block(lines, i)
            else:
                item = None
        elif _is_item(stripped):
            raise _Unsure   # "- - x": not worth the trouble
        elif stripped[0] not in "[{" and _KEY.match(stripped):
            # "- key: value": a mapping whose keys stand in this item's column.
            item, i = _mapping(lines, i, indent + 1 + len(body) - len(stripped), stripped)
            if i < n and lines[i][0] > indent:
                raise _Unsure
        else:
            item = _inline(stripped)
            i += 1
            if i < n and lines[i][0] > indent:
                raise _Unsure
        out.append(item)
    return out, i


# --- one value on its line -------------------------------------------------------------------

def _inline(text: str) -> Any:
    """A value that fills the rest of a line (a trailing comment allowed)."""
    first = text[0]
    if first == "{":
        m = _SIMPLE_MAP.match(text)
        if m is not None:
            out = {}
            for key, value in _PAIRS.findall(m.group(1)):
                key = _key(key)
                if key in out:
                    raise _Unsure   # a duplicate key: the full parser reports it
                out[key] = _scalar(value)
            return out
    elif first == "[":
        m = _SIMPLE_SEQ.match(text)
        if m is not None:
            return [_scalar(item) for item in _ITEMS.findall(m.group(1))]
    if first == "[" or first == "{":
        value, pos = _flow(text, 0)
        if not _END.match(text, pos):
            raise _Unsure
        return value
    m = _INLINE_SCALAR.match(text)
    if m is None:
        raise _Unsure
    return _scalar(m.group(1))


def _flow(text: str, pos: int) -> tuple[Any, int]:
    """A one-line flow collection at ``text[pos]`` ('[' or '{'): (value, position after)."""
    is_map = text[pos] == "{"
    closing = "}" if is_map else "]"
    out: Any = {} if is_map else []
    pos = _SPACES.match(text, pos + 1).end()
    if text[pos:pos + 1] == closing:
        return out, pos + 1
    while True:
        m = (_FLOW_PAIR if is_map else _FLOW_ITEM).match(text, pos)
        if m is not None:   # the common case: a scalar entry, and the ',' or end after it
            if is_map:
                key = _key(m.group(1))
                if key in out:
                    raise _Unsure
                out[key] = _scalar(m.group(2))
                sep = m.group(3)
            else:
                out.append(_scalar(m.group(1)))
                sep = m.group(2)
            pos = m.end()
        else:
            if is_map:
                m = _KEY.match(text, pos)
                if m is None or m.end() == len(text):
                    raise _Unsure
                key = _key(m.group(1))
                if key in out:
                    raise _Unsure
                pos = m.end()
            if text[pos:pos + 1] not in ("[", "{"):
                raise _Unsure
            value, pos = _flow(text, pos)
            if is_map:
                out[key] = value
            else:
                out.append(value)
            pos = _SPACES.match(text, pos).end()
            sep = text[pos:pos + 1]
            if sep != closing and sep != ",":
                raise _Unsure
            pos = _SPACES.match(text, pos + 1).end()
        if sep == closing:
            return out, pos
        if text[pos:pos + 1] in (closing, ",", ""):
            raise _Unsure   # a trailing or doubled comma


def _key(text: str) -> str:
    value = _scalar(text)
    if type(value) is not str:
        raise _Unsure   # a number, boolean or null as a key: the full path words that
    return value


@functools.lru_cache(maxsize=4096)
def _scalar(text: str) -> Any:
    """A scalar as written (quotes included) → its value; only immutable values, so that
    remembering them is safe."""
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
