"""The app factory: ``create_app()`` for gunicorn, ``zonesync serve`` and the tests.

    gunicorn -w 4 -b 0.0.0.0:8080 'zonesync.api:create_app()'

Every worker builds the app and starts a Runner; the one that takes the runner lock runs the
jobs, the others only queue them (and take over if the holder dies). Do not use gunicorn's
``--preload``: the runner's threads would be started in the master and lost at the fork.
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
from typing import Any, Mapping

from flask import Flask, g, request
from flask_smorest import Api

from .. import __version__
from ..metrics import Metrics
from ..providers.config import Secrets, scrub
from . import auth, errors
from .config import Settings
from .errors import ApiError
from .routes import BLUEPRINTS
from .schemas import ErrorSchema
from .service import Service

log = logging.getLogger("zonesync.api")


class _Api(Api):
    ERROR_SCHEMA = ErrorSchema


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The service. ``config``: keys as the environment's (``ZONESYNC_ZONES``) or short
    (``zones``); None reads the environment."""
    settings = Settings.from_env() if config is None else Settings.from_mapping(config)
    _log_with_gunicorn()
    if settings.webhook_secret:
        Secrets.add(settings.webhook_secret)

    app = Flask("zonesync.api")
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body,
        API_TITLE="zonesync",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
        TRAP_HTTP_EXCEPTIONS=False,
        PROPAGATE_EXCEPTIONS=False,
    )
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    api = _Api(app, spec_kwargs={"info": {"description": (
        "SIP domains as code: descriptions in, NAPTR/SRV records synced to DNS. Every route but "
        "/healthz, /readyz, /metrics, /openapi.json and the signed git webhook needs "
        "`Authorization: Bearer <token>` with the scope the route names (read, sync, write).")}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    errors.install(app)          # after flask-smorest's own handlers: ours answer

    service = Service(settings)
    metrics = Metrics(service.store, lambda: service.warm.current().findings)
    app.extensions["zonesync"] = service
    app.extensions["zonesync.metrics"] = metrics
    ring = auth.TokenRing(settings.tokens)
    if not settings.tokens:
        log.warning("no API tokens configured (ZONESYNC_TOKENS / ZONESYNC_TOKENS_FILE): every "
                    "authenticated route answers 401")

    @app.before_request
    def _gate():
        auth.check_request(ring)
        _check_body()

    @app.after_request
    def _finish(response):
        rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        metrics.observe(request.method, rule, response.status_code)
        if Secrets.values and not response.direct_passthrough and response.mimetype in (
                "application/json", "text/plain"):
            text = response.get_data(as_text=True)
            clean = scrub(text)
            if clean != text:
                response.set_data(clean)
        return response

    if settings.start_runner:
        leader = service.start()
        log.info("zonesync API: zones %s, state %s; this process %s the jobs", settings.zones,
                 settings.state_dir, "runs" if leader else "queues (another process runs)")
    atexit.register(service.stop)
    return app


def _log_with_gunicorn() -> None:
    """Under gunicorn, zonesync's log lines go where gunicorn's own go, at its --log-level."""
    ours = logging.getLogger("zonesync")
    theirs = logging.getLogger("gunicorn.error")
    if "gunicorn" not in sys.modules or ours.handlers or not theirs.handlers:
        return
    for handler in theirs.handlers:
        ours.addHandler(handler)
    ours.setLevel(theirs.level)
    ours.propagate = False


def _check_body() -> None:
    """JSON bodies only (415), parsed once here so that a broken one is a 400, never a 500."""
    g.json_body = None
    if request.method not in ("POST", "PUT", "PATCH") or request.url_rule is None:
        return
    if auth.scope_of(request.endpoint) == auth.SIGNED:
        return                    # the webhook: the signature covers the raw bytes, any type
    length = request.content_length
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    has_body = bool(length) or chunked
    required = _body_required()
    if not has_body and not required:
        return
    if not request.is_json:
        raise ApiError(415, "unsupported media type",
                       "send the body as JSON (Content-Type: application/json)")
    data = request.get_data(cache=True)          # 413 past MAX_CONTENT_LENGTH
    if not data.strip():
        if required:
            raise ApiError(400, "malformed JSON", "the request has no body")
        return
    try:
        g.json_body = json.loads(data)
    except RecursionError:
        raise ApiError(400, "malformed JSON", "the JSON nests too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed JSON", str(exc)[:300]) from None


def _body_required() -> bool:
    from flask import current_app
    view = current_app.view_functions.get(request.endpoint)
    cls = getattr(view, "view_class", None)
    method = getattr(cls, request.method.lower(), None) if cls else view
    while method is not None:
        if getattr(method, "_zonesync_body", False):
            return True
        method = getattr(method, "__wrapped__", None)
    return False
