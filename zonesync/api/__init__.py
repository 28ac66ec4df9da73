"""The HTTP service: ``gunicorn 'zonesync.api:create_app()'`` (see app.py and README)."""

from .app import create_app

__all__ = ["create_app"]
