"""Provider configuration (``providers/<name>.yaml``) → octoDNS provider instances.

One file a provider::

    class: octodns_powerdns.PowerDnsProvider     # any octoDNS provider, module.Class
    default: true                                # descriptions without `providers:` go here
    create_zones: false                          # may zonesync create a zone that is missing?
    settings:                                    # the provider's own arguments
      host: 127.0.0.1
      api_key: env/PDNS_API_KEY                  # secrets from the environment, as octoDNS does
    verify:
      nameservers: [127.0.0.1:5300]              # authoritative servers to ask after an apply
      wait: 10                                   # propagation budget, seconds

Secrets are resolved only when the provider is instantiated; their values are remembered in
``SECRETS`` so that every message zonesync prints can be scrubbed of them.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import findings as F
from ..findings import Finding
from ..load import parse_yaml, read_text, schema_findings

LOCAL_CLASS = "zonesync.providers.local.LocalProvider"
_ENV = re.compile(r"^env/([A-Za-z_][A-Za-z0-9_]*)(?:/(.*))?$")


class Secrets:
    """Every secret value resolved from the environment, to be scrubbed from any output."""

    values: set[str] = set()

    @classmethod
    def add(cls, value: str) -> None:
        if value and len(value) >= 4:
            cls.values.add(value)

    @classmethod
    def scrub(cls, text: str) -> str:
        for value in sorted(cls.values, key=len, reverse=True):
            text = text.replace(value, "***")
        return text


scrub = Secrets.scrub


class VerifySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    nameservers: list[str] = Field(default_factory=list)
    wait: float | int = 5
    ttl_minimum: int = 0          # providers that raise low TTLs (SPEC V1)
    parent_nameservers: list[str] = Field(default_factory=list)


class ProviderFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)
    class_: str = Field(alias="class", pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
    default: bool = False
    create_zones: bool = False
    settings: dict[str, Any] = Field(default_factory=dict)
    verify: VerifySettings = Field(default_factory=VerifySettings)


@dataclass
class ProviderConfig:
    """One loaded provider file; ``instance()`` builds the octoDNS provider on first use."""

    name: str
    file: str
    spec: ProviderFile
    state_dir: Path
    _instance: Any = field(default=None, repr=False)

    @property
    def is_local(self) -> bool:
        return self.spec.class_ == LOCAL_CLASS

    @property
    def default(self) -> bool:
        return self.spec.default

    @property
    def create_zones(self) -> bool:
        return self.spec.create_zones

    @property
    def nameservers(self) -> list[str]:
        return list(self.spec.verify.nameservers)

    def local_directory(self) -> Path:
        return Path(self.spec.settings.get("directory") or self.state_dir / "zones")

    def instance(self):
        """The octoDNS provider (secrets resolved now, never earlier); ProviderError if not."""
        if self._instance is None:
            self._instance = _instantiate(self)
            _BUILT[id(self)] = self
        return self._instance


# A forked worker (``parallel``) must not share its parent's provider connections (one socket
# read by two processes interleaves their replies): it builds its own instances.
_BUILT: "weakref.WeakValueDictionary[int, ProviderConfig]" = weakref.WeakValueDictionary()


def _forget_instances() -> None:
    for config in list(_BUILT.values()):
        config._instance = None
    _BUILT.clear()


os.register_at_fork(after_in_child=_forget_instances)


class ProviderError(Exception):
    """A provider could not be configured or reached; the message is already scrubbed."""

    def __init__(self, message: str):
        super().__init__(scrub(message))


def resolve_settings(settings: dict[str, Any], where: str) -> dict[str, Any]:
    """``env/NAME`` (or ``env/NAME/default``) values → the environment's values."""
    out = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out[key] = resolve_settings(value, f"{where}.{key}")
            continue
        match = _ENV.match(value) if isinstance(value, str) else None
        if not match:
            out[key] = value
            continue
        name, default = match.groups()
        resolved = os.environ.get(name, default)
        if resolved is None:
            raise ProviderError(f"{where}.{key}: environment variable {name} is not set "
                                f"(the setting says env/{name}); export it before running")
        Secrets.add(resolved)
        out[key] = resolved
    return out


def _instantiate(config: ProviderConfig):
    settings = resolve_settings(config.spec.settings, f"{config.file}: settings")
    if config.is_local:
        settings.setdefault("directory", str(config.local_directory()))
        settings.setdefault("create_zones", config.create_zones)
    module_name, _, class_name = config.spec.class_.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ProviderError(f"{config.file}: class {config.spec.class_} cannot be loaded ({exc}); "
                            "install its package (pip install octodns-…)") from None
    try:
        instance = cls(config.name, **settings)
    except Exception as exc:  # noqa: BLE001 - a provider's constructor can raise anything
        raise ProviderError(f"{config.file}: {config.spec.class_} rejected its settings: "
                            f"{type(exc).__name__}: {exc}") from None
    _skip_environment_lookups(instance)
    if isinstance(getattr(instance, "log", None), logging.Logger):
        instance.log.addFilter(_not_about_root_ns)
    return instance


def _not_about_root_ns(record: logging.LogRecord) -> bool:
    """octoDNS warns, zone by zone, that no apex NS is configured: zonesync never manages the
    apex NS (the provider's own stay as they are), so the warning is noise here."""
    return not str(record.msg).startswith("root NS record supported, but no record")


# What a requests.Session reads from the environment on every request (trust_env): proxies,
# ~/.netrc, a CA bundle. Scanning the environment for them was a tenth of a sync's time. With
# no proxy variable and no netrc, reading the CA bundle once, now, changes nothing.
def _skip_environment_lookups(instance) -> None:
    try:
        from requests import Session
    except ImportError:
        return
    if any("proxy" in name.lower() or name.upper() == "NETRC" for name in os.environ):
        return
    if (Path.home() / ".netrc").exists() or (Path.home() / "_netrc").exists():
        return
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    for value in vars(instance).values():
        if isinstance(value, Session):
            value.trust_env = False
            if bundle and value.verify is True:
                value.verify = bundle


@dataclass
class Providers:
    """Every provider file, and the findings of those that did not load."""

    configs: dict[str, ProviderConfig]
    findings: list[Finding]

    def defaults(self) -> list[ProviderConfig]:
        return [c for c in self.configs.values() if c.default]

    def for_description(self, names: list[str] | None) -> list[ProviderConfig]:
        """SPEC O6: a description's `providers:`, or every default provider."""
        if names is None:
            return self.defaults()
        return [self.configs[n] for n in names if n in self.configs]

    def unknown(self, names: list[str] | None) -> list[str]:
        return [n for n in (names or []) if n not in self.configs]


def load_providers(directory: Path, state_dir: Path) -> Providers:
    """Load ``directory/*.yaml``; with no directory or no files, the embedded default only."""
    configs: dict[str, ProviderConfig] = {}
    problems: list[Finding] = []
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml")) if directory.is_dir() else []
    for path in files:
        config, found = _load_one(path, state_dir)
        problems += found
        if config:
            configs[config.name] = config
    if not files:
        configs["local"] = embedded_default(state_dir)
    return Providers(configs, problems)


def embedded_default(state_dir: Path) -> ProviderConfig:
    spec = ProviderFile.model_validate({"class": LOCAL_CLASS, "default": True, "create_zones": True,
                                        "verify": {"nameservers": ["127.0.0.1:5353"]}})
    return ProviderConfig("local", "<embedded default>", spec, state_dir)


def _load_one(path: Path, state_dir: Path) -> tuple[ProviderConfig | None, list[Finding]]:
    shown = str(path)
    text, problems = read_text(path, shown)
    if text is None:
        return None, problems
    data, lines, problems = parse_yaml(text, shown)
    if problems:
        return None, problems
    if not isinstance(data, dict):
        return None, [F.make("schema-type", "a provider file is a mapping with `class:`",
                             file=shown, line=1)]
    try:
        spec = ProviderFile.model_validate(data)
    except ValidationError as exc:
        located = []
        for finding in schema_findings(exc, ProviderFile):
            path_key = finding.path.replace("class_", "class")
            located.append(finding.located(shown, _line(lines, path_key)))
        return None, located
    return ProviderConfig(path.stem, shown, spec, state_dir), []


def _line(lines: dict[str, int], path: str) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return 1

