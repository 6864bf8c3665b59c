"""Path and query parameters shared by the routers (apart from the schemas, which the CLI
uses without loading FastAPI)."""

from typing import Annotated

from fastapi import Path, Query

from moodtune.api.schemas import INT32_MAX

__all__ = ["Offset", "PlaylistIdPath", "ShareTokenPath", "TrackIdPath"]

TrackIdPath = Annotated[int, Path(ge=1, le=INT32_MAX, description="A track id.")]
PlaylistIdPath = Annotated[int, Path(ge=1, le=INT32_MAX, description="A playlist id.")]
ShareTokenPath = Annotated[
    str,
    Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="A share token."),
]
Offset = Annotated[int, Query(ge=0, le=INT32_MAX, description="Items to skip.")]
