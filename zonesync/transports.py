"""SIP transports: the one table both the compiler and the resolver read.

Transport ↔ NAPTR service ↔ default SRV owner ↔ default port (IANA registry; RFC 3263 §4.1,
RFC 4168, RFC 7118 §5.5, RFC 3261 §19.1.2).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TransportInfo:
    service: str       # NAPTR service field
    owner: str         # default SRV owner prefix, relative to the domain
    port: int          # default port
    secure: bool       # SIPS


TRANSPORTS: dict[str, TransportInfo] = {
    "udp": TransportInfo("SIP+D2U", "_sip._udp", 5060, False),
    "tcp": TransportInfo("SIP+D2T", "_sip._tcp", 5060, False),
    "sctp": TransportInfo("SIP+D2S", "_sip._sctp", 5060, False),
    "tls": TransportInfo("SIPS+D2T", "_sips._tcp", 5061, True),
    "tls-sctp": TransportInfo("SIPS+D2S", "_sips._sctp", 5061, True),
    "ws": TransportInfo("SIP+D2W", "_sip._ws", 80, False),
    "wss": TransportInfo("SIPS+D2W", "_sips._ws", 443, True),
}

SERVICE = {t: info.service for t, info in TRANSPORTS.items()}
TRANSPORT_OF_SERVICE = {info.service: t for t, info in TRANSPORTS.items()}
SRV_PREFIX = {t: info.owner for t, info in TRANSPORTS.items()}
DEFAULT_PORT = {t: info.port for t, info in TRANSPORTS.items()}
SECURE = frozenset(t for t, info in TRANSPORTS.items() if info.secure)
