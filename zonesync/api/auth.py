"""Bearer tokens: named, scoped, kept as SHA-256 digests, compared in constant time.

Every route says which scope it needs (``@needs("read")``) or that it is public
(``@public``); a route that says neither is refused, so a new route cannot be open by
accident. The check runs before the request body is looked at.
"""

from __future__ import annotations

import hmac
from typing import Callable, Iterable

from flask import current_app, g, request

from .config import Token, digest
from .errors import ApiError

SCOPE_ATTR = "_zonesync_scope"
PUBLIC = "public"
SIGNED = "signed"       # the git webhook: authenticated by its signature, in the view


def needs(scope: str) -> Callable:
    def mark(view):
        setattr(view, SCOPE_ATTR, scope)
        return view
    return mark


def public(view):
    setattr(view, SCOPE_ATTR, PUBLIC)
    return view


def signed(view):
    setattr(view, SCOPE_ATTR, SIGNED)
    return view


class TokenRing:
    def __init__(self, tokens: Iterable[Token]):
        self.tokens = list(tokens)

    def find(self, presented: str) -> Token | None:
        """The token whose digest matches; every entry is compared (no early exit)."""
        wanted = digest(presented)
        found = None
        for token in self.tokens:
            if hmac.compare_digest(token.digest, wanted):
                found = token
        return found


def scope_of(endpoint: str | None) -> str | None:
    view = current_app.view_functions.get(endpoint) if endpoint else None
    if view is None:
        return None
    cls = getattr(view, "view_class", None)
    if cls is not None:              # a MethodView: the mark is on the method
        view = getattr(cls, request.method.lower(), None)
        if view is None and request.method == "HEAD":
            view = getattr(cls, "get", None)
    # flask-smorest wraps views; the mark is on the innermost function or copied by wraps().
    while view is not None:
        scope = getattr(view, SCOPE_ATTR, None)
        if scope:
            return scope
        view = getattr(view, "__wrapped__", None)
    return None


def check_request(ring: TokenRing) -> None:
    """Before every request: unknown routes fall through (404/405); others need their scope."""
    if request.url_rule is None or request.method == "OPTIONS":
        return
    scope = scope_of(request.endpoint)
    if scope in (PUBLIC, SIGNED):
        return
    if scope is None:
        # The static route or flask-smorest's own documentation: public; anything else is closed.
        if request.endpoint in ("static",) or (request.endpoint or "").startswith("api-docs."):
            return
        raise ApiError(403, "forbidden", "this route declares no access rule")
    header = request.headers.get("Authorization", "")
    kind, _, presented = header.partition(" ")
    if kind.lower() != "bearer" or not presented.strip():
        raise ApiError(401, "authentication required",
                       "send Authorization: Bearer <token>",
                       headers={"WWW-Authenticate": 'Bearer realm="zonesync"'})
    token = ring.find(presented.strip())
    if token is None:
        raise ApiError(401, "invalid token", "the bearer token is not known",
                       headers={"WWW-Authenticate": 'Bearer realm="zonesync", error="invalid_token"'})
    g.token_name = token.name
    if scope not in token.scopes:
        raise ApiError(403, "insufficient scope",
                       f"this request needs the {scope!r} scope; token {token.name!r} has "
                       f"{', '.join(sorted(token.scopes))}",
                       headers={"WWW-Authenticate": f'Bearer realm="zonesync", '
                                                    f'error="insufficient_scope", scope="{scope}"'})
