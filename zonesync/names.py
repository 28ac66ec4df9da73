"""Domain names as users write them → the canonical form zonesync works with.

Canonical form: lower-case ASCII (IDN labels as punycode, IDNA 2008 / UTS #46), no trailing
dot, every label 1–63 octets, the whole name at most 253 characters (255 octets on the wire).
Host names follow the LDH rule (RFC 1123 §2.1); SRV owners may also hold the underscore
labels of RFC 2782 (``_sip._udp``). Pure functions; problems raise ``NameProblem`` with the id
of the catalog rule they break.
"""

from __future__ import annotations

import functools
import ipaddress
import re

import idna

MAX_NAME = 253
MAX_LABEL = 63
_LDH = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SERVICE = re.compile(r"^_[a-z0-9](?:[a-z0-9-]{0,60}[a-z0-9])?$")


class NameProblem(ValueError):
    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule
        self.message = message


# Text that can be an IP address: an IPv6 one has a ':', an IPv4 one only digits and dots.
_MAYBE_IPV4 = re.compile(r"[0-9.\[\]]+")


def is_address(text: str) -> bool:
    if ":" not in text and not _MAYBE_IPV4.fullmatch(text):
        return False   # the common case, a name: no need to ask ipaddress
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def to_ascii(text: str) -> str:
    """Lower-case, strip one trailing dot, punycode any IDN labels (UTS #46 mapping)."""
    name = text.strip()
    if name.endswith("."):
        name = name[:-1]
    if name.isascii():
        return name.lower()
    try:
        return idna.encode(name, uts46=True, transitional=False).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise NameProblem("name-invalid", f"{text!r} is not a valid internationalised name: {exc}")


# A whole name of LDH labels within the length limits: one match for the common case, the
# label-by-label walk below only to say what is wrong (or for service labels).
_LDH_NAME = re.compile(r"(?=.{1,%d}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*"
                       r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?" % MAX_NAME)


def _check_labels(name: str, original: str, *, service_labels: bool) -> None:
    if not (service_labels and name.startswith("_")) and _LDH_NAME.fullmatch(name):
        return
    if not name:
        raise NameProblem("name-invalid", "the name is empty")
    if len(name) > MAX_NAME:
        raise NameProblem("name-invalid",
                          f"{original!r} is {len(name)} characters long; at most {MAX_NAME} are allowed")
    labels = name.split(".")
    leading = True
    for label in labels:
        if not label:
            raise NameProblem("name-invalid", f"{original!r} has an empty label (two dots in a row?)")
        if len(label) > MAX_LABEL:
            raise NameProblem("name-invalid",
                              f"label {label[:20]!r}… of {original!r} is {len(label)} characters long; "
                              f"at most {MAX_LABEL} are allowed")
        if service_labels and leading and label.startswith("_"):
            if not _SERVICE.match(label):
                raise NameProblem("name-invalid", f"{label!r} in {original!r} is not a valid "
                                  "_service or _proto label")
            continue
        leading = False
        if not _LDH.match(label):
            raise NameProblem("name-invalid",
                              f"label {label!r} of {original!r} may hold only letters, digits and "
                              "hyphens, and may not start or end with a hyphen")


def host_name(text: str, *, allow_single_label: bool = False) -> str:
    """A host or domain name in canonical form, or NameProblem."""
    if not isinstance(text, str):
        raise NameProblem("name-invalid", f"{text!r} is not a name")
    return _host_name(text, allow_single_label)


# Pure functions of a string, asked again and again for the same names (a host is a key of
# `hosts` and the target of several SRV records; an estate shares its SBCs): remembered.
_CACHE = 1 << 12


@functools.lru_cache(maxsize=_CACHE)
def _host_name(text: str, allow_single_label: bool) -> str:
    if is_address(text.strip().removesuffix(".")):
        # "192.0.2.10." is no better: an all-numeric name is an address to every reader.
        raise NameProblem("srv-target-is-address", f"{text!r} is an IP address, not a name")
    name = to_ascii(text)
    _check_labels(name, text, service_labels=False)
    if not allow_single_label and "." not in name:
        raise NameProblem("host-single-label",
                          f"{text!r} is a single-label name; zonesync treats every name as absolute "
                          f"and will not guess a suffix")
    return name


def owner_name(text: str) -> tuple[str, bool]:
    """An SRV owner: (canonical name, absolute?). Relative owners are joined to the domain later."""
    if not isinstance(text, str):
        raise NameProblem("name-invalid", f"{text!r} is not a name")
    return _owner_name(text)


@functools.lru_cache(maxsize=_CACHE)
def _owner_name(text: str) -> tuple[str, bool]:
    absolute = text.strip().endswith(".")
    name = to_ascii(text)
    _check_labels(name, text, service_labels=True)
    return name, absolute


def owner_text(text: str) -> str:
    """An SRV owner as the model keeps it: canonical, with a trailing dot only if absolute."""
    name, absolute = owner_name(text)
    return name + "." if absolute else name


def target_name(text: str) -> str:
    """An SRV target: a host name, or "." (RFC 2782: the service is decidedly not available)."""
    if isinstance(text, str) and text.strip() == ".":
        return "."
    return host_name(text)


def join(relative: str, origin: str) -> str:
    name = f"{relative}.{origin}"
    if len(name) > MAX_NAME:
        raise NameProblem("name-invalid",
                          f"{relative!r} joined to {origin!r} is {len(name)} characters long; "
                          f"at most {MAX_NAME} are allowed")
    return name


def is_within(name: str, zone: str) -> bool:
    """True if ``name`` equals ``zone`` or lies below it (label-wise, not string-suffix)."""
    return name == zone or name.endswith("." + zone)


def address(text: str) -> str:
    """An IPv4 or IPv6 address in canonical text form."""
    if type(text) is str:
        return _address(text)
    return _address_uncached(text)


@functools.lru_cache(maxsize=_CACHE)
def _address(text: str) -> str:
    return _address_uncached(text)


def _address_uncached(text) -> str:
    try:
        return str(ipaddress.ip_address(str(text).strip()))
    except ValueError:
        raise NameProblem("address-invalid", f"{text!r} is not an IPv4 or IPv6 address") from None
