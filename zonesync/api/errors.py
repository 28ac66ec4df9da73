"""Every error is JSON ``{"error": "...", "detail": ...}``: never HTML, a traceback or a secret."""

from __future__ import annotations

import logging
import traceback
import uuid

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ..providers.config import scrub

log = logging.getLogger("zonesync.api")

# What a client is told for each status when the exception says nothing better.
TITLES = {
    400: "bad request", 401: "authentication required", 403: "forbidden", 404: "not found",
    405: "method not allowed", 409: "conflict", 413: "request body too large",
    415: "unsupported media type", 422: "unprocessable request", 429: "too many requests",
    500: "internal error", 502: "bad gateway", 503: "service unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail=None, headers: dict | None = None):
        super().__init__(error)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers or {}


def error_response(status: int, error: str, detail=None, headers: dict | None = None):
    response = jsonify({"error": scrub(error), "detail": _scrub(detail)})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _scrub(value):
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


def install(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.error, exc.detail, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        detail = exc.description
        data = getattr(exc, "data", None)
        if isinstance(data, dict) and "messages" in data:        # webargs/flask-smorest 422
            detail = data["messages"]
            if isinstance(detail, dict) and set(detail) <= {"json", "query", "path", "headers"}:
                detail = detail if len(detail) > 1 else next(iter(detail.values()), detail)
        headers = {}
        valid = getattr(exc, "valid_methods", None)
        if status == 405 and valid:
            headers["Allow"] = ", ".join(valid)
        if status == 404 and not isinstance(data, dict):
            detail = "no such route (GET /openapi.json lists them)"
        if status == 405:
            detail = (f"{request.method} is not allowed here"
                      + (f"; allowed: {', '.join(valid)}" if valid else ""))
        if status == 413:
            detail = f"the body may be at most {app.config.get('MAX_CONTENT_LENGTH')} bytes"
        title = TITLES.get(status) or (exc.name or "error").lower()
        if status == 422 and isinstance(data, dict) and "messages" in data:
            title = "invalid request"
        return error_response(status, title, detail, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        incident = uuid.uuid4().hex[:12]
        trace = "".join(traceback.format_exception(exc))
        log.error("internal error %s: %s", incident, scrub(trace))
        return error_response(500, "internal error",
                              f"incident {incident}: the service log has the details")
