"""HTTP edge: ``create_app(settings)`` builds the FastAPI app (routers under /api/v1,
``/metrics`` at the root, error envelope of DESIGN.md section 6).

``create_app`` is imported on first use, so that the CLI can use the schemas without loading
FastAPI and every router (most of ``moodtune recommend``'s start-up time otherwise)."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moodtune.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from moodtune.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
