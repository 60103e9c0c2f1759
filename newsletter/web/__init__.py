"""The public web app (FastAPI): signup, confirm, unsubscribe, archive, health."""

from newsletter.web.app import create_app

__all__ = ["create_app"]
