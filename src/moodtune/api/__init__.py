"""HTTP edge: ``create_app(settings)`` builds the FastAPI app (routers under /api/v1,
``/metrics`` at the root, error envelope of DESIGN.md section 6)."""

from moodtune.api.app import create_app

__all__ = ["create_app"]
