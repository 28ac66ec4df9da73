"""The estate: every description under ``zones/``, loaded, linted, grouped by DNS zone.

This is the one place that turns files into what later stages plan from. A broken file never
stops the others from being checked; its errors are reported with the rest and it contributes no
records (``valid``), so a sync can refuse it without guessing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from . import findings as F
from .compile import compile_zone
from .findings import Finding
from .lint import known_hosts, lint_description, lint_estate
from .load import Loaded, description_files, load_file
from .model import Description
from .records import Record


@dataclass
class Estate:
    files: list[Loaded]

    @property
    def findings(self) -> list[Finding]:
        return [f for loaded in self.files for f in loaded.findings]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]

    def valid(self) -> list[Loaded]:
        """Files whose description loaded and has no error finding."""
        return [f for f in self.files if f.description and not F.has_errors(f.findings)]

    def descriptions(self) -> list[Description]:
        return [f.description for f in self.files if f.description]

    def find(self, domain_or_file: str) -> Loaded | None:
        """The file describing ``domain_or_file`` (a domain name, IDN or not, or a file path)."""
        wanted = domain_or_file.rstrip(".").lower()
        for loaded in self.files:
            desc = loaded.description
            if desc and wanted in (desc.domain, _unicode(desc.domain)):
                return loaded
        for loaded in self.files:
            if Path(loaded.file).resolve() == Path(domain_or_file).resolve():
                return loaded
        for loaded in self.files:
            # A file that does not load has no domain; zones/<domain>.yaml still names it, so
            # `compile <domain>` shows that file's errors instead of "no description".
            if loaded.description is None and _stem(loaded.file) in (wanted, _unicode(wanted)):
                return loaded
        return None

    def zone_errors(self, zone: str) -> list[Finding]:
        """Errors of every file in ``zone``: one broken neighbour makes the zone's records unsure."""
        return [f for loaded in self.files if loaded.description
                and loaded.description.zone_name == zone for f in loaded.findings if f.is_error]

    def zones(self) -> dict[str, list[Description]]:
        """Valid descriptions grouped by DNS zone (SPEC O1: plans are per zone)."""
        out: dict[str, list[Description]] = {}
        for loaded in self.valid():
            out.setdefault(loaded.description.zone_name, []).append(loaded.description)
        return out

    def zone_records(self) -> dict[str, frozenset[Record]]:
        return {zone: compile_zone(descs) for zone, descs in self.zones().items()}


def _stem(file: str) -> str:
    name = os.path.basename(file)
    cut = name.rfind(".")
    if 0 < cut < len(name) - 1:   # what PurePath.stem does, without building a path
        return name[:cut].lower().rstrip(".")
    return Path(file).stem.lower().rstrip(".")


def _suffix_of(file: str) -> str:
    return Path(file).suffix


def _unicode(name: str) -> str:
    try:
        import idna
        return idna.decode(name)
    except Exception:  # noqa: BLE001 - a name that does not round-trip simply does not match
        return name


def check_file(loaded: Loaded, known: set[str]) -> None:
    """Lint one loaded file in place, locating each finding at its line."""
    desc = loaded.description
    if desc is None:
        return
    stem = _stem(loaded.file)
    if (stem != desc.domain and loaded.file.endswith((".yaml", ".yml"))
            and _suffix_of(loaded.file) in (".yaml", ".yml") and stem != _unicode(desc.domain)):
        loaded.findings.append(loaded.locate(F.make(
            "file-name-mismatch", f"the file describes {desc.domain}", path="domain",
            fix=f"rename the file to {desc.domain}.yaml")))
    loaded.findings.extend(loaded.locate(f) for f in lint_description(desc, known))


def check(files: list[Loaded]) -> Estate:
    """Lint freshly loaded files, each alone and all together (call once per load)."""
    descs = [f.description for f in files if f.description]
    known = known_hosts(descs)
    for loaded in files:
        check_file(loaded, known)
    by_name = {f.file: f for f in files}
    items = [(f.file, f.description) for f in files if f.description]
    for file, finding in lint_estate(items):
        target = by_name[file]
        target.findings.append(target.locate(finding))
    return Estate(files)


def load_files(paths: Iterable[str | os.PathLike]) -> list[Loaded]:
    """Load (not lint) every description file under ``paths`` (files or directories)."""
    shown = _shower()
    return [load_file(p, shown(p)) for p in description_files(paths)]


def load_estate(paths: Iterable[str | os.PathLike]) -> Estate:
    """Load and lint every description file under ``paths`` (files or directories)."""
    return check(load_files(paths))


def _shower():
    """``_shown`` with the working directory looked up once (for a whole estate)."""
    cwd = os.getcwd()
    prefix = cwd if cwd.endswith(os.sep) else cwd + os.sep

    def shown(path: Path) -> str:
        absolute = os.path.abspath(path)
        if absolute.startswith(prefix):
            return absolute[len(prefix):]
        return "." if absolute == cwd else str(path)
    return shown


def _shown(path: Path) -> str:
    """Paths as the user will recognise them: relative to the working directory when inside it.

    Symlinks are not resolved: zones/acme.example.yaml linking elsewhere is still reported (and
    its name checked against its domain) as zones/acme.example.yaml."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except ValueError:
        return str(path)
