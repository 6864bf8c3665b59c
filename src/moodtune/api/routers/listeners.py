"""Feedback events, saved playlists and the anonymous listener behind the cookie."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from moodtune.api.deps import ListenerDep, ListenerIdDep, OptionalListenerDep, SessionDep
from moodtune.api.schemas import (
    ErrorOut,
    FeedbackIn,
    FeedbackOut,
    ListenerOut,
    PlaylistIdPath,
    PlaylistIn,
    PlaylistOut,
    PlaylistSummary,
    TasteOut,
)
from moodtune.catalog import repo
from moodtune.catalog.exports import playlist_json, playlist_m3u
from moodtune.service import taste_summary

router = APIRouter(tags=["listener"])


@router.get("/listeners/me", response_model=ListenerOut)
def me(listener_id: ListenerIdDep, session: SessionDep) -> ListenerOut:
    """This browser's anonymous listener: its id (and cookie) is given on the first call, and
    it is stored with its first feedback or playlist (``created_at`` is null until then)."""
    listener = repo.get_listener(listener_id, session=session)
    return ListenerOut(id=listener_id, created_at=listener.created_at if listener else None)


@router.get("/listeners/me/taste", response_model=TasteOut)
def my_taste(listener_id: ListenerIdDep, session: SessionDep) -> TasteOut:
    """What moodtune has learned from this browser's likes, dislikes, plays and skips."""
    return TasteOut(**taste_summary(listener_id, session=session))


@router.post(
    "/feedback",
    response_model=FeedbackOut,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def add_feedback(body: FeedbackIn, listener: ListenerDep, session: SessionDep) -> FeedbackOut:
    """Record a play, like, dislike, skip (with the position reached) or completed play."""
    event = repo.add_feedback(
        session=session,
        listener=listener,
        track_id=body.track_id,
        kind=body.kind,
        position_ms=body.position_ms,
    )
    session.commit()
    return FeedbackOut.model_validate(event, from_attributes=True)


@router.post(
    "/playlists",
    response_model=PlaylistOut,
    status_code=status.HTTP_201_CREATED,
    responses={400: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def save_playlist(body: PlaylistIn, listener: ListenerDep, session: SessionDep) -> PlaylistOut:
    """Save tracks in order under a name, for this listener."""
    playlist = repo.create_playlist(
        session=session,
        listener=listener,
        name=body.name,
        items=[i.model_dump() for i in body.tracks],
        params=body.params,
    )
    session.commit()
    return PlaylistOut.from_playlist(playlist)


@router.get("/playlists", response_model=list[PlaylistSummary])
def list_playlists(listener: OptionalListenerDep, session: SessionDep) -> list[PlaylistSummary]:
    """This listener's saved playlists, newest first (empty for a browser never seen)."""
    if listener is None:
        return []
    return [
        PlaylistSummary(id=p.id, name=p.name, created_at=p.created_at, track_count=len(p.items))
        for p in repo.list_playlists(session=session, listener=listener)
    ]


@router.get(
    "/playlists/{playlist_id}", response_model=PlaylistOut, responses={404: {"model": ErrorOut}}
)
def get_playlist(
    playlist_id: PlaylistIdPath, listener: OptionalListenerDep, session: SessionDep
) -> PlaylistOut:
    """One of this listener's playlists with its tracks."""
    return PlaylistOut.from_playlist(
        repo.get_playlist(playlist_id, session=session, listener=listener)
    )


@router.get(
    "/playlists/{playlist_id}/export",
    responses={
        200: {"content": {"audio/x-mpegurl": {}, "application/json": {}}},
        404: {"model": ErrorOut},
    },
)
def export_playlist(
    playlist_id: PlaylistIdPath,
    request: Request,
    listener: OptionalListenerDep,
    session: SessionDep,
    format: Annotated[
        Literal["m3u", "json"], Query(description="m3u (extended M3U8) or json")
    ] = "m3u",
) -> Response:
    """Download a playlist as an extended M3U (UTF-8) or JSON file."""
    playlist = repo.get_playlist(playlist_id, session=session, listener=listener)
    base_url = str(request.base_url).rstrip("/")
    filename = f"moodtune-playlist-{playlist.id}.{'m3u8' if format == 'm3u' else 'json'}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "m3u":
        return Response(
            playlist_m3u(playlist, base_url=base_url),
            media_type="audio/x-mpegurl; charset=utf-8",
            headers=headers,
        )
    return Response(
        playlist_json(playlist, base_url=base_url), media_type="application/json", headers=headers
    )
