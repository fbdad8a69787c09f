"""`seminpaint serve`: a local web page for inpainting (see app.py and docs/web.md)."""

from .app import WebConfig, create_app

__all__ = ["WebConfig", "create_app"]
