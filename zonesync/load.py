"""Reading description files: bytes → YAML → ``Description``, every problem as a located Finding.

A file never raises: whatever is wrong with it (size, encoding, YAML syntax, schema) comes back
as findings naming the file, the line, the field path, the problem and the fix — all of them at
once, not just the first. The YAML parser's node marks give the line of every key and value.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import ValidationError

from . import findings as F
from .findings import Finding
from .model import Description, SipEntry, Target

MAX_FILE_BYTES = 1024 * 1024   # a description is a few KiB; refuse anything near this
MAX_NODES = 100_000            # YAML aliases can expand a small file exponentially
SUFFIXES = (".yaml", ".yml")


@dataclass
class Loaded:
    """One description file: the validated description (None if it has errors) and findings."""

    file: str
    description: Description | None
    findings: list[Finding] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, path: str) -> int | None:
        """The line of ``path`` or of its nearest parent that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = _parent(path)
        return None

    def locate(self, finding: Finding) -> Finding:
        return finding.located(self.file, self.line_of(finding.path))


def format_path(loc: Iterable[Any]) -> str:
    """('sip', 0, 'targets', 1, 'port') → 'sip[0].targets[1].port'; odd keys are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.replace("_", "").replace("-", "").isalnum():
            out += f".{part}" if out else part
        else:
            out += f"[{str(part)!r}]"
    return out


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


# --- bytes → text -------------------------------------------------------------------------------

def read_text(path: Path, shown: str) -> tuple[str | None, list[Finding]]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [F.make("file-too-large",
                                 f"the file is {size:,} bytes; descriptions may be at most "
                                 f"{MAX_FILE_BYTES:,} bytes", file=shown)]
        data = path.read_bytes()
    except OSError as exc:
        return None, [F.make("file-unreadable", f"cannot read the file: {exc.strerror}", file=shown)]
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
    pass


def parse_yaml(text: str, shown: str) -> tuple[Any, dict[str, int], list[Finding]]:
    """YAML text → (data, {field path: line}, findings). Duplicate keys are errors."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}, [F.make("file-empty", "the file is empty", file=shown, line=1)]
        lines: dict[str, int] = {}
        problems: list[Finding] = []
        _walk(node, (), lines, problems, shown, [0])
        if problems:
            return None, lines, problems
        return loader.construct_document(node), lines, []
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(x for x in (exc.context, exc.problem) if x)
        return None, {}, [F.make("yaml-syntax", what or "invalid YAML", file=shown,
                                 line=mark.line + 1 if mark else None)]
    except yaml.YAMLError as exc:
        return None, {}, [F.make("yaml-syntax", str(exc), file=shown)]
    except _TooBig:
        return None, {}, [F.make("file-too-large", f"the YAML expands to more than {MAX_NODES:,} "
                                 "values (aliases?)", file=shown)]
    finally:
        loader.dispose()


def _walk(node, loc: tuple, lines: dict[str, int], problems: list[Finding], shown: str,
          count: list[int]) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise _TooBig()
    path = format_path(loc)
    lines.setdefault(path, node.start_mark.line + 1)
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
            _walk(value_node, loc + (key,), lines, problems, shown, count)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, loc + (i,), lines, problems, shown, count)


# --- data → Description -------------------------------------------------------------------------

_FIELDS = {
    0: set(Description.model_fields),
    1: set(SipEntry.model_fields),
    2: set(Target.model_fields),
}

_TYPE_WORDS = {
    "int_type": "a whole number", "int_parsing": "a whole number", "string_type": "a string",
    "bool_type": "true or false", "list_type": "a list", "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)", "model_attributes_type": "a mapping (key: value)",
    "float_type": "a number",
}


def _depth(loc: tuple) -> int:
    if len(loc) >= 5 and loc[0] == "sip" and loc[2] == "targets":
        return 2
    if len(loc) >= 3 and loc[0] == "sip":
        return 1
    return 0


def _describe(value: Any) -> str:
    kind = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "nothing (null)"}.get(type(value), "a value")
    text = repr(value)
    return kind if len(text) > 40 or isinstance(value, (dict, list)) or value is None else f"{kind} {text}"


def schema_findings(error: ValidationError) -> list[Finding]:
    """pydantic's errors as zonesync findings: ids, plain words and a fix for each."""
    out = []
    for err in error.errors(include_url=False):
        loc, kind = tuple(err["loc"]), err["type"]
        path = format_path(loc)
        if kind in F.RULES:
            out.append(F.make(kind, err["msg"], path=path))
        elif kind == "extra_forbidden":
            out.append(_unknown_key(loc, path))
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


def _unknown_key(loc: tuple, path: str) -> Finding:
    key = str(loc[-1])
    known = sorted(_FIELDS[_depth(loc[:-1] + ("x",))])
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean `{close[0]}`? " if close else ""
    return F.make("schema-unknown-key", f"unknown key `{key}`",
                  fix=f"{hint}known keys here: {', '.join(known)}", path=path)


def validate_data(data: Any, shown: str, lines: dict[str, int] | None = None) -> Loaded:
    """Parsed YAML/JSON data → a Loaded with findings located in ``shown``."""
    loaded = Loaded(shown, None, lines=lines or {})
    if not isinstance(data, dict):
        loaded.findings.append(loaded.locate(F.make(
            "schema-type", f"a description is a mapping with `domain:` and `sip:`; found "
            f"{_describe(data)}", fix="start the file with `domain: example.com`")))
        return loaded
    try:
        loaded.description = Description.model_validate(data)
    except ValidationError as exc:
        loaded.findings.extend(loaded.locate(f) for f in schema_findings(exc))
    return loaded


def load_file(path: str | os.PathLike, shown: str | None = None) -> Loaded:
    path = Path(path)
    shown = shown or str(path)
    text, problems = read_text(path, shown)
    if text is None:
        return Loaded(shown, None, problems)
    return load_text(text, shown)


def load_text(text: str, shown: str = "<input>") -> Loaded:
    data, lines, problems = parse_yaml(text, shown)
    if problems:
        return Loaded(shown, None, problems, lines)
    return validate_data(data, shown, lines)


def description_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named by ``paths``: a directory contributes its *.yaml/*.yml files, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix in SUFFIXES and f.is_file()))
        else:
            out.append(p)
    return out
