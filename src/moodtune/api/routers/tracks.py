"""Browse and search the catalog."""

from typing import Annotated

from fastapi import APIRouter, Query

from moodtune.api.deps import SessionDep
from moodtune.api.schemas import ErrorOut, GenreOut, TrackOut, TrackPage
from moodtune.catalog import repo

router = APIRouter(tags=["catalog"])


@router.get("/tracks", response_model=TrackPage, responses={404: {"model": ErrorOut}})
def list_tracks(
    session: SessionDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Words to find in title, artists or album.")
    ] = None,
    genre: Annotated[
        str | None, Query(max_length=100, description="Only tracks of this genre.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TrackPage:
    """Search tracks by text and genre, most popular first, one page at a time."""
    items, total = repo.search_tracks(session=session, q=q, genre=genre, limit=limit, offset=offset)
    return TrackPage(
        items=[TrackOut.from_track(t) for t in items], total=total, limit=limit, offset=offset
    )


@router.get("/tracks/{track_id}", response_model=TrackOut, responses={404: {"model": ErrorOut}})
def get_track(track_id: int, session: SessionDep) -> TrackOut:
    """One track with its features, genres and the estimator behind each feature."""
    return TrackOut.from_track(repo.get_track(track_id, session=session))


@router.get("/genres", response_model=list[GenreOut])
def list_genres(session: SessionDep) -> list[GenreOut]:
    """Every genre with its number of tracks, largest first (for the genre picker)."""
    return [GenreOut(name=name, tracks=count) for name, count in repo.genre_counts(session=session)]
