"""The service's settings: from a mapping (tests, `zonesync serve`) or from the environment.

Keys are the environment variables' names (``ZONESYNC_ZONES``) or the same without the prefix,
lower-cased (``zones``). Nothing here is ever printed with a secret in it: a bad token entry is
named by its position and its name, never by its value.

Tokens: ``name:scope1,scope2:token`` — in ``ZONESYNC_TOKENS`` separated by ``;``, in
``ZONESYNC_TOKENS_FILE`` one a line (blank lines and ``#`` comments ignored). The token is
everything after the second colon. Scopes: ``read`` (GETs), ``sync`` (POST syncs and
drift-checks), ``write`` (PUT/DELETE domains); a token has exactly the scopes it lists.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

SCOPES = ("read", "sync", "write")
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_QUEUE = 100
DEFAULT_WORKERS = 2
DEFAULT_PROVIDER_CONCURRENCY = 4
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """The service's configuration is wrong; the message never holds a secret."""


@dataclass(frozen=True)
class Token:
    """A named, scoped API token, kept only as its SHA-256 digest."""

    name: str
    scopes: frozenset[str]
    digest: bytes = field(repr=False)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def parse_token(entry: str, where: str) -> Token:
    parts = entry.strip().split(":", 2)
    if len(parts) != 3:
        raise ConfigError(f"{where}: a token entry is name:scope1,scope2:token")
    name, scopes_text, secret = parts[0].strip(), parts[1], parts[2].strip()
    if not _NAME.match(name):
        raise ConfigError(f"{where}: token name {name[:64]!r} may hold only letters, digits and "
                          "_ . @ + - (at most 64)")
    scopes = frozenset(s.strip() for s in scopes_text.split(",") if s.strip())
    unknown = sorted(scopes - set(SCOPES))
    if unknown or not scopes:
        raise ConfigError(f"{where}: token {name!r} has scopes {', '.join(unknown) or '(none)'}; "
                          f"known scopes: {', '.join(SCOPES)}")
    if len(secret) < 8:
        raise ConfigError(f"{where}: token {name!r} is shorter than 8 characters")
    return Token(name, scopes, digest(secret))


def parse_tokens(entries: Iterable[str], where: str) -> list[Token]:
    out = []
    for i, entry in enumerate(entries, 1):
        if not entry.strip() or entry.lstrip().startswith("#"):
            continue
        out.append(parse_token(entry, f"{where} entry {i}"))
    return out


@dataclass
class Settings:
    zones: Path
    providers: Path
    state_dir: Path
    tokens: list[Token] = field(default_factory=list, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    git_push: bool = False
    drift_interval: float | None = None
    drift_remediate: bool = False
    max_queue: int = DEFAULT_MAX_QUEUE
    max_body: int = DEFAULT_MAX_BODY
    workers: int = DEFAULT_WORKERS
    provider_concurrency: int = DEFAULT_PROVIDER_CONCURRENCY
    start_runner: bool = True
    zones_rescan: float | None = 30.0     # seconds between stat scans of every zones/ file

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        return cls.from_mapping({k: v for k, v in env.items() if k.startswith("ZONESYNC_")})

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> "Settings":
        c = {_key(k): v for k, v in config.items()}
        zones = Path(c.get("zones") or "zones")
        state = c.get("state_dir")
        tokens = _tokens(c.get("tokens"), "ZONESYNC_TOKENS")
        if c.get("tokens_file"):
            path = Path(c["tokens_file"])
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"ZONESYNC_TOKENS_FILE {path}: cannot read it "
                                  f"({exc.strerror or exc})") from None
            tokens += parse_tokens(lines, f"ZONESYNC_TOKENS_FILE {path}")
        names = [t.name for t in tokens]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ConfigError(f"token names must be unique: {', '.join(doubled)} given twice")
        digests = [t.digest for t in tokens]
        if len(set(digests)) != len(digests):
            raise ConfigError("two token entries hold the same token: give each name its own")
        secret = c.get("webhook_secret") or None
        return cls(
            zones=zones,
            providers=Path(c.get("providers") or "providers"),
            state_dir=Path(state) if state else zones.resolve().parent / ".zonesync",
            tokens=tokens,
            webhook_secret=str(secret) if secret else None,
            git_push=_bool(c.get("git_push"), "ZONESYNC_GIT_PUSH"),
            drift_interval=_number(c.get("drift_interval"), "ZONESYNC_DRIFT_INTERVAL", float,
                                   minimum=0) or None,
            drift_remediate=_bool(c.get("drift_remediate"), "ZONESYNC_DRIFT_REMEDIATE"),
            max_queue=_number(c.get("max_queue"), "ZONESYNC_MAX_QUEUE", int, minimum=1)
            or DEFAULT_MAX_QUEUE,
            max_body=_number(c.get("max_body"), "ZONESYNC_MAX_BODY", int, minimum=1024)
            or DEFAULT_MAX_BODY,
            workers=_number(c.get("job_workers"), "ZONESYNC_JOB_WORKERS", int, minimum=1)
            or DEFAULT_WORKERS,
            provider_concurrency=_number(c.get("provider_concurrency"),
                                         "ZONESYNC_PROVIDER_CONCURRENCY", int, minimum=1)
            or DEFAULT_PROVIDER_CONCURRENCY,
            start_runner=_bool(c.get("start_runner", True), "start_runner"),
            zones_rescan=_rescan(c.get("zones_rescan")),
        )


def _rescan(value: Any) -> float | None:
    """ZONESYNC_ZONES_RESCAN: seconds (default 30) between checks of every file's signature
    (edits in place that change no directory entry); 0 or "off": only the directory and the
    service's own writers are watched."""
    if value is None or value == "":
        return 30.0
    if str(value).strip().lower() in ("off", "never", "none"):
        return None
    number = _number(value, "ZONESYNC_ZONES_RESCAN", float, minimum=0)
    return number or None


def _key(key: str) -> str:
    key = str(key)
    return key[len("ZONESYNC_"):].lower() if key.upper().startswith("ZONESYNC_") else key.lower()


def _tokens(value: Any, where: str) -> list[Token]:
    if not value:
        return []
    if isinstance(value, str):
        return parse_tokens(value.split(";"), where)
    out = []
    for i, item in enumerate(value, 1):
        if isinstance(item, Token):
            out.append(item)
        elif isinstance(item, Mapping):
            scopes = item.get("scopes", ())
            scopes = scopes.split(",") if isinstance(scopes, str) else scopes
            out.append(parse_token(f"{item.get('name', '')}:{','.join(scopes)}:"
                                   f"{item.get('token', '')}", f"{where} entry {i}"))
        else:
            out.append(parse_token(str(item), f"{where} entry {i}"))
    return out


def _bool(value: Any, name: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r}: use true or false")


def _number(value: Any, name: str, kind, minimum):
    if value is None or value == "":
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not a {'whole ' if kind is int else ''}number") \
            from None
    if number < minimum:
        raise ConfigError(f"{name}={value!r}: at least {minimum}")
    return number
