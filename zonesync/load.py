"""Reading description files: bytes → YAML → ``Description``, every problem as a located Finding.

A file never raises: whatever is wrong with it (size, encoding, YAML syntax, schema) comes back
as findings naming the file, the line, the field path, the problem and the fix — all of them at
once, not just the first. The YAML parser's node marks give the line of every key and value.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import typing
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Iterable

import yaml
from pydantic import BaseModel, ValidationError

from . import fastyaml
from . import findings as F
from . import names
from .findings import Finding
from .model import Description, range_problem

MAX_FILE_BYTES = 1024 * 1024   # a description is a few KiB; refuse anything near this
MAX_NODES = 100_000            # YAML aliases can expand a small file exponentially
SUFFIXES = (".yaml", ".yml")


class LazyLines(Mapping):
    """The line map of a file read by the fast path, made on first use by parsing its text
    again, fully (the fast path keeps no positions). Shared by every Loaded made from it."""

    __slots__ = ("_text", "_file", "_map", "aliased")

    def __init__(self, text: str, file: str):
        self._text, self._file, self._map = text, file, None
        self.aliased = False   # set once the description validated: canonical host keys too

    def _lines(self) -> dict[str, int]:
        if self._map is None:
            data, lines, _ = parse_yaml(self._text, self._file)
            if self.aliased and isinstance(data, dict):
                _alias_host_lines(data, lines)
            self._map, self._text = lines, None
        return self._map

    def __getitem__(self, path: str) -> int:
        return self._lines()[path]

    def __contains__(self, path: object) -> bool:
        return path in self._lines()

    def __iter__(self):
        return iter(self._lines())

    def __len__(self) -> int:
        return len(self._lines())

    def __eq__(self, other: object) -> bool:
        return self._lines() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._lines()) if self._map is not None else "LazyLines(…)"


class Loaded:
    """One description file: the validated description (None if it has errors) and findings.

    ``lines`` maps field paths to lines (for a file read by the fast path, lazily: see
    ``LazyLines``)."""

    __slots__ = ("file", "description", "findings", "lines")

    def __init__(self, file: str, description: Description | None,
                 findings: list[Finding] | None = None,
                 lines: dict[str, int] | LazyLines | None = None):
        self.file = file
        self.description = description
        self.findings = [] if findings is None else findings
        self.lines = {} if lines is None else lines

    def __repr__(self) -> str:
        return (f"Loaded(file={self.file!r}, description={self.description!r}, "
                f"findings={self.findings!r}, lines={self.lines!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Loaded):
            return NotImplemented
        return (self.file, self.description, self.findings) == \
            (other.file, other.description, other.findings) and self.lines == other.lines

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def line_of(self, path: str) -> int | None:
        """The line of ``path`` or of its nearest parent that has one (the document's, at worst)."""
        lines = self.lines
        while path:
            if path in lines:
                return lines[path]
            path = _parent(path)
        return lines.get("")

    def locate(self, finding: Finding) -> Finding:
        if finding.file is not None and finding.line is not None:
            return finding
        return finding.located(self.file, self.line_of(finding.path))


def format_path(loc: Iterable[Any]) -> str:
    """('sip', 0, 'targets', 1, 'port') → 'sip[0].targets[1].port'; odd keys are quoted."""
    out = ""
    for part in _keys_as_text(tuple(loc)):
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.replace("_", "").replace("-", "").isalnum():
            out += f".{part}" if out else part
        else:
            out += f"[{str(part)!r}]"
    return out


def _keys_as_text(loc: tuple) -> tuple:
    """pydantic marks a bad mapping key as (…, key, '[key]'): the key is the place, and a
    number there is a YAML key (``5:``), not a list index, so it is written as the text it was."""
    if len(loc) >= 2 and loc[-1] == "[key]":
        return loc[:-2] + (str(loc[-2]),)
    return loc


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


# --- bytes → text -------------------------------------------------------------------------------

def read_text(path: Path, shown: str) -> tuple[str | None, list[Finding]]:
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        return None, [F.make("file-unreadable", f"cannot read the file: {exc.strerror}", file=shown)]
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            # A FIFO or device would block or never end; a directory is not a description.
            return None, [F.make("file-unreadable", "not a regular file", file=shown)]
        size = info.st_size
        if size > MAX_FILE_BYTES:
            return None, [F.make("file-too-large",
                                 f"the file is {size:,} bytes; descriptions may be at most "
                                 f"{MAX_FILE_BYTES:,} bytes", file=shown)]
        chunks = [os.read(fd, size + 1)]
        # A regular file gives all it has up to the size asked: fewer bytes than that is its
        # end (no second read to see it). More than its size: it grew while read.
        while len(chunks[0]) > size and chunks[-1] and sum(map(len, chunks)) <= MAX_FILE_BYTES:
            chunks.append(os.read(fd, MAX_FILE_BYTES + 1))
        data = b"".join(chunks)
    except OSError as exc:
        return None, [F.make("file-unreadable", f"cannot read the file: {exc.strerror}", file=shown)]
    finally:
        os.close(fd)
    return decode(data, shown)


def decode(data: bytes, shown: str) -> tuple[str | None, list[Finding]]:
    if len(data) > MAX_FILE_BYTES:
        return None, [F.make("file-too-large", f"the input is {len(data):,} bytes; descriptions may "
                             f"be at most {MAX_FILE_BYTES:,} bytes", file=shown)]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [F.make("file-not-utf8", f"byte 0x{data[exc.start]:02x} at offset {exc.start} "
                             "is not UTF-8", file=shown, line=line)]


# --- text → data + line map ---------------------------------------------------------------------

class _TooBig(Exception):
    """Raised inside the walk; ``top`` is the top-level key being expanded (where to look)."""

    def __init__(self, why: str, top: str, line: int | None):
        super().__init__(why)
        self.why, self.top, self.line = why, top, line


# libyaml's parser when PyYAML was built with it (same nodes and marks, several times faster).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, shown: str) -> tuple[Any, dict[str, int], list[Finding]]:
    """YAML text → (data, {field path: line}, findings). Duplicate keys are errors."""
    loader = None
    try:
        loader = _LOADER(text)   # already checks the characters: may raise ReaderError
        node = loader.get_single_node()
        if node is None:
            return None, {}, [F.make("file-empty", "the file is empty", file=shown, line=1)]
        lines: dict[str, int] = {}
        problems: list[Finding] = []
        _walk(node, (), lines, problems, shown, [0], set())
        if problems:
            return None, lines, problems
        data = loader.construct_document(node)
        if data is None:   # `~` or `null`: a document, but no description in it
            return None, lines, [F.make("file-empty", "the file holds only null", file=shown,
                                        line=node.start_mark.line + 1)]
        return data, lines, []
    except yaml.MarkedYAMLError as exc:
        what = " ".join(x for x in (exc.context, exc.problem) if x)
        rule = "file-too-large" if "nesting depth" in what else "yaml-syntax"   # libyaml's limit
        if rule == "file-too-large":
            what = "the YAML nests too deeply"
        return None, {}, [F.make(rule, what or "invalid YAML", file=shown,
                                 line=_error_line(exc, text))]
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        return None, {}, [F.make("yaml-syntax", f"character U+{exc.character:04X} is not allowed "
                                 "in YAML text", file=shown, line=line)]
    except yaml.YAMLError as exc:
        return None, {}, [F.make("yaml-syntax", str(exc), file=shown)]
    except _TooBig as exc:
        return None, {}, [F.make("file-too-large", exc.why, file=shown, line=exc.line,
                                 path=exc.top)]
    except RecursionError:
        # [[[[… thousands deep: PyYAML's parser recurses once per level. Where it gave up is
        # where the reader stands.
        return None, {}, [F.make("file-too-large", "the YAML nests too deeply", file=shown,
                                 line=loader.line + 1 if loader else None)]
    finally:
        if loader is not None:
            loader.dispose()


def _error_line(exc: yaml.MarkedYAMLError, text: str) -> int | None:
    """Where to send the reader. A bracket or quote left open is found only at the end of the
    file, past its last line: then the place it was opened (the context) is the useful one,
    and no line is ever past the last line that holds text."""
    problem, context = exc.problem_mark, exc.context_mark
    mark = problem or context
    if problem is not None and context is not None and problem.index >= len(text.rstrip()):
        mark = context
    if mark is None:
        return None
    return max(1, min(mark.line + 1, len(text.rstrip().splitlines())))


def _top(loc: tuple, lines: dict[str, int]) -> tuple[str, int]:
    top = format_path(loc[:1])
    return top, lines.get(top, 1)


def _walk(node, loc: tuple, lines: dict[str, int], problems: list[Finding], shown: str,
          count: list[int], open_nodes: set[int]) -> None:
    """Record the line of every path; flag duplicate keys; refuse alias bombs and cycles.

    Aliases share nodes, so the walk visits what construction would build: ``count`` stops a
    "billion laughs" expansion, ``open_nodes`` (the nodes being walked) an alias inside itself.
    An alias's node carries the anchor's line, so both report the top-level key being walked."""
    count[0] += 1
    if count[0] > MAX_NODES:
        raise _TooBig(f"the YAML expands to more than {MAX_NODES:,} values (aliases?)",
                      *_top(loc, lines))
    if id(node) in open_nodes:
        raise _TooBig("an alias refers to the collection that contains it, endlessly",
                      *_top(loc, lines))
    path = format_path(loc)
    lines.setdefault(path, node.start_mark.line + 1)
    open_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(F.make("yaml-duplicate-key", f"key {key!r} appears twice in this "
                                       f"mapping (lines {seen[key]} and {line}); YAML keeps only "
                                       "the last one", file=shown, line=line,
                                       path=format_path(loc + (key,))))
            seen[key] = line
            lines[format_path(loc + (key,))] = line
            _walk(value_node, loc + (key,), lines, problems, shown, count, open_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, loc + (i,), lines, problems, shown, count, open_nodes)
    elif _surprising_int(node):
        problems.append(F.make(
            "schema-type", f"YAML 1.1 reads {node.value} as {_surprise_kind(node.value)} number, "
            "not what it looks like", file=shown, line=node.start_mark.line + 1, path=path,
            fix=f"write {node.value.lstrip('0') or '0'} (no leading zero), or quote it if it is text"))
    open_nodes.discard(id(node))


def _surprising_int(node) -> bool:
    """Plain scalars YAML 1.1 turns into octal (05060) or base-60 (1:30) integers."""
    return (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int"
            and not node.style and (":" in node.value or _OCTAL.match(node.value) is not None))


def _surprise_kind(text: str) -> str:
    return "a base-60" if ":" in text else "an octal"


_OCTAL = re.compile(r"^[-+]?0[0-7_]+$")


# --- data → Description -------------------------------------------------------------------------

_TYPE_WORDS = {
    "int_type": "a whole number", "int_parsing": "a whole number", "string_type": "a string",
    "bool_type": "true or false", "list_type": "a list", "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)", "model_attributes_type": "a mapping (key: value)",
    "float_type": "a number",
}


def _describe(value: Any) -> str:
    kind = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "nothing (null)"}.get(type(value), "a value")
    text = repr(value)
    return kind if len(text) > 40 or isinstance(value, (dict, list)) or value is None else f"{kind} {text}"


def schema_findings(error: ValidationError, model: type[BaseModel] = Description) -> list[Finding]:
    """pydantic's errors as zonesync findings: ids, plain words and a fix for each."""
    out = []
    for err in error.errors(include_url=False):
        loc, kind = _error_loc(err), err["type"]
        path = format_path(loc)
        if kind in F.RULES:
            out.append(F.make(kind, err["msg"], path=path))
        elif kind in ("extra_forbidden", "invalid_key"):
            out.append(_unknown_key(model, loc, path))
        elif kind in ("greater_than_equal", "less_than_equal") and loc and model is Description:
            out.append(F.make("number-out-of-range", range_problem(loc[-1], err["input"]),
                              path=path))
        elif kind == "missing":
            out.append(F.make("schema-missing", f"`{loc[-1]}` is required", path=path))
        elif kind == "literal_error" and (loc[-1] == "transport" or loc[:1] == ("disabled",)):
            out.append(F.make("transport-unknown",
                              f"{err['input']!r} is not a transport zonesync knows", path=path))
        elif kind in _TYPE_WORDS:
            out.append(F.make("schema-type", f"expected {_TYPE_WORDS[kind]}, found "
                              f"{_describe(err['input'])}", path=path))
        elif kind == "too_short":
            out.append(F.make("schema-missing", "the list is empty; at least one item is needed",
                              path=path))
        elif kind == "string_pattern_mismatch":
            out.append(F.make("schema-type", f"{err['input']!r} is not a valid name here "
                              "(letters, digits, '.', '_' and '-')", path=path))
        else:
            out.append(F.make("schema-type", err["msg"], path=path))
    return out


def _error_loc(err: dict) -> tuple:
    """Where an error is. A model-level check names its field in ``ctx['key']`` (pydantic
    would place it at the whole document); a key YAML read as a number is still a key."""
    loc = tuple(err["loc"])
    key = (err.get("ctx") or {}).get("key")
    if key is not None:
        return loc + (key,)
    if err["type"] == "invalid_key" and loc:
        return loc[:-1] + (str(loc[-1]),)
    return loc


def _unknown_key(model: type[BaseModel], loc: tuple, path: str) -> Finding:
    key = str(loc[-1])
    known = _known_keys(model, loc[:-1])
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean `{close[0]}`? " if close else ""
    return F.make("schema-unknown-key", f"unknown key `{key}`",
                  fix=f"{hint}known keys here: {', '.join(known)}", path=path)


def _known_keys(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """The keys allowed in the mapping at ``loc``, found by walking the schema's fields."""
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _inner_model(field.annotation) if field else None
    if model is None:
        return []
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _inner_model(annotation) -> type[BaseModel] | None:
    """The model inside ``list[X]``, ``X | None``, ``Annotated[X, …]``, ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found:
            return found
    return None


def validate_data(data: Any, shown: str, lines: dict[str, int] | None = None, *,
                  text: str | None = None) -> Loaded:
    """Parsed YAML/JSON data → a Loaded with findings located in ``shown``. ``text``: the
    YAML the data came from, parsed again for the line map only if a finding needs it."""
    lazy = LazyLines(text, shown) if text is not None else None
    loaded = Loaded(shown, None, lines=lazy if lazy is not None else lines or {})
    if not isinstance(data, dict):
        loaded.findings.append(loaded.locate(F.make(
            "schema-type", f"a description is a mapping with `domain:` and `sip:`; found "
            f"{_describe(data)}", fix="start the file with `domain: example.com`")))
        return loaded
    try:
        loaded.description = Description.model_validate(data)
    except ValidationError as exc:
        loaded.findings.extend(loaded.locate(f) for f in schema_findings(exc))
    else:
        if lazy is not None:
            lazy.aliased = True
        else:
            _alias_host_lines(data, loaded.lines)
    return loaded


def _alias_host_lines(data: dict, lines: dict[str, int]) -> None:
    """Lint names a host by its canonical name (``hosts['sip.xn--e1afmkfd.xn--p1ai']``) while the
    line map knows the key as written (``hosts['SIP.пример.рф']``): give both the same line."""
    hosts = data.get("hosts")
    if not isinstance(hosts, dict):
        return
    for written in hosts:
        try:
            canonical = names.host_name(written)
        except names.NameProblem:
            continue
        line = lines.get(format_path(("hosts", str(written))))
        if line is not None:
            lines.setdefault(format_path(("hosts", canonical)), line)


def load_file(path: str | os.PathLike, shown: str | None = None) -> Loaded:
    return load_many([(path, shown or str(path))])[0]


def load_many(items: Iterable[tuple[str | os.PathLike, str]], batch: int = 128) -> list[Loaded]:
    """``load_file(path, shown)`` for each item, the same results, made stage by stage over a
    batch of files (read them all, parse them all, validate them all): each stage's code and
    data then stay in the CPU's caches (in one process, up to 1.5 times as fast over a large
    estate as file by file)."""
    items = list(items)
    out: list[Loaded] = []
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        texts = [read_text(path, shown) for path, shown in chunk]
        datas = [None if text is None else fastyaml.load(text, MAX_NODES // 2)
                 for text, _ in texts]
        out += [Loaded(shown, None, problems) if text is None else _load_parsed(text, shown, data)
                for (_, shown), (text, problems), data in zip(chunk, texts, datas)]
    return out


def load_text(text: str, shown: str = "<input>") -> Loaded:
    return _load_parsed(text, shown, fastyaml.load(text, MAX_NODES // 2))


def _load_parsed(text: str, shown: str, data: Any) -> Loaded:
    """``load_text`` given what the fast YAML reader made of ``text`` (None: it was unsure)."""
    if data is not None:
        return validate_data(data, shown, text=text)
    data, lines, problems = parse_yaml(text, shown)
    if problems:
        return Loaded(shown, None, problems, lines)
    return validate_data(data, shown, lines)


def _listed(path: Path) -> bool:
    return path.is_file() or (path.is_symlink() and not path.exists())


def description_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named by ``paths``: a directory contributes its *.yaml/*.yml files, sorted.

    Anything so named that is not a directory is listed, even a dangling symlink: skipping it
    silently would drop a description from the estate; reading it reports file-unreadable."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            with os.scandir(p) as entries:
                names = sorted(e.name for e in entries if _wanted(e))
            out.extend(p / name for name in names)
        else:
            out.append(p)
    return out


def _wanted(entry: os.DirEntry) -> bool:
    """A directory entry listed as a description: ``_listed`` and a YAML suffix, without a
    stat per file where the directory already tells the type."""
    name = entry.name
    cut = name.rfind(".")
    if not (0 < cut < len(name) - 1) or name[cut:] not in SUFFIXES:
        return False
    try:
        if entry.is_file():
            return True
        return entry.is_symlink() and not os.path.exists(entry.path)
    except OSError:
        return _listed(Path(entry.path))
