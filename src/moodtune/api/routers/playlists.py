"""Saved playlists: keep, rename, delete, export, and hand to a phone by a read-only link."""

import io
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Query, Request, Response, status

from moodtune.api.deps import (
    LangDep,
    ListenerDep,
    OptionalListenerDep,
    SessionDep,
    SettingsDep,
    SourceClientsDep,
)
from moodtune.api.params import PlaylistIdPath, ShareTokenPath
from moodtune.api.schemas import (
    ErrorOut,
    PlaylistIn,
    PlaylistOut,
    PlaylistRename,
    PlaylistSummary,
    PushIn,
    PushOut,
    SharedPlaylistOut,
    ShareOut,
    SourceOut,
)
from moodtune.catalog import repo
from moodtune.catalog.exports import playlist_json, playlist_m3u, playlist_xspf
from moodtune.catalog.models import PlaylistShare
from moodtune.catalog.sources import get_source, list_sources, push_playlist
from moodtune.config import Settings
from moodtune.errors import InvalidInput, NotFound, NotShared

router = APIRouter(tags=["playlists"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}
_EXPORTS = {
    "m3u": ("audio/x-mpegurl; charset=utf-8", "m3u8"),
    "xspf": ("application/xspf+xml", "xspf"),
    "json": ("application/json", "json"),
}
_LOOPBACK = ("127.", "localhost", "[::1]", "0.0.0.0")


@router.post(
    "/playlists",
    response_model=PlaylistOut,
    status_code=status.HTTP_201_CREATED,
    responses={400: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def save_playlist(
    body: PlaylistIn, listener: ListenerDep, session: SessionDep, lang: LangDep
) -> PlaylistOut:
    """Save tracks in order under a name, for this listener."""
    playlist = repo.create_playlist(
        session=session,
        listener=listener,
        name=body.name,
        items=[
            {"track_id": i.track_id, "score": i.score, "reasons": i.stored_reasons()}
            for i in body.tracks
        ],
        params=body.params,
    )
    session.commit()
    return PlaylistOut.from_playlist(playlist, lang)


@router.get("/playlists", response_model=list[PlaylistSummary])
def list_playlists(listener: OptionalListenerDep, session: SessionDep) -> list[PlaylistSummary]:
    """This listener's saved playlists, newest first (empty for a browser never seen)."""
    if listener is None:
        return []
    return [
        PlaylistSummary(
            id=p.id,
            name=p.name,
            created_at=p.created_at,
            track_count=len(p.items),
            shared=repo.active_share(p, session=session) is not None,
        )
        for p in repo.list_playlists(session=session, listener=listener)
    ]


@router.get("/playlists/{playlist_id}", response_model=PlaylistOut, responses=_NOT_FOUND)
def get_playlist(
    playlist_id: PlaylistIdPath, listener: OptionalListenerDep, session: SessionDep, lang: LangDep
) -> PlaylistOut:
    """One of this listener's playlists with its tracks (another listener's is 404)."""
    return PlaylistOut.from_playlist(
        repo.get_playlist(playlist_id, session=session, listener=listener), lang
    )


@router.patch(
    "/playlists/{playlist_id}",
    response_model=PlaylistOut,
    responses={**_NOT_FOUND, 422: {"model": ErrorOut}},
)
def rename_playlist(
    playlist_id: PlaylistIdPath,
    body: PlaylistRename,
    listener: OptionalListenerDep,
    session: SessionDep,
    lang: LangDep,
) -> PlaylistOut:
    """Rename one of this listener's playlists."""
    playlist = repo.get_playlist(playlist_id, session=session, listener=listener)
    repo.rename_playlist(playlist, body.name, session=session)
    session.commit()
    return PlaylistOut.from_playlist(playlist, lang)


@router.delete(
    "/playlists/{playlist_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND
)
def delete_playlist(
    playlist_id: PlaylistIdPath, listener: OptionalListenerDep, session: SessionDep
) -> Response:
    """Delete one of this listener's playlists; its share link stops working (404)."""
    playlist = repo.get_playlist(playlist_id, session=session, listener=listener)
    repo.delete_playlist(playlist, session=session)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/playlists/{playlist_id}/export",
    responses={
        200: {
            "content": {"audio/x-mpegurl": {}, "application/xspf+xml": {}, "application/json": {}}
        },
        **_NOT_FOUND,
    },
)
def export_playlist(
    playlist_id: PlaylistIdPath,
    request: Request,
    listener: OptionalListenerDep,
    session: SessionDep,
    lang: LangDep,
    format: Annotated[
        Literal["m3u", "xspf", "json"], Query(description="m3u (extended M3U8), xspf or json")
    ] = "m3u",
) -> Response:
    """Download a playlist as an extended M3U (UTF-8), XSPF or JSON file."""
    playlist = repo.get_playlist(playlist_id, session=session, listener=listener)
    base_url = str(request.base_url).rstrip("/")
    media_type, extension = _EXPORTS[format]
    body = {
        "m3u": lambda: playlist_m3u(playlist, base_url=base_url),
        "xspf": lambda: playlist_xspf(playlist, base_url=base_url),
        "json": lambda: playlist_json(playlist, base_url=base_url, lang=lang),
    }[format]()
    filename = f"moodtune-playlist-{playlist.id}.{extension}"
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def public_base(settings: Settings, request: Request) -> str:
    """Where phones reach this server: MOODTUNE_PUBLIC_URL, else the address of the request."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


def _share_out(share: PlaylistShare, base: str) -> ShareOut:
    api = f"{base}/api/v1/playlists/{share.playlist_id}/qr"
    host = base.split("://", 1)[-1]
    return ShareOut(
        token=share.token,
        url=f"{base}/s/{share.token}",
        qr_svg_url=f"{api}?format=svg",
        qr_png_url=f"{api}?format=png",
        created_at=share.created_at,
        loopback=host.startswith(_LOOPBACK),
    )


@router.post("/playlists/{playlist_id}/share", response_model=ShareOut, responses=_NOT_FOUND)
def share_playlist(
    playlist_id: PlaylistIdPath,
    request: Request,
    settings: SettingsDep,
    listener: OptionalListenerDep,
    session: SessionDep,
) -> ShareOut:
    """A read-only link to the playlist (made once; asking again gives the same link).
    ``loopback`` is true when the link names 127.0.0.1 or localhost, which a phone cannot open:
    set MOODTUNE_PUBLIC_URL or open the page at the server's network address."""
    playlist = repo.get_playlist(playlist_id, session=session, listener=listener)
    share = repo.share_playlist(playlist, session=session)
    session.commit()
    return _share_out(share, public_base(settings, request))


@router.delete(
    "/playlists/{playlist_id}/share", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND
)
def revoke_share(
    playlist_id: PlaylistIdPath, listener: OptionalListenerDep, session: SessionDep
) -> Response:
    """Revoke the link: opening it then answers 410 ``revoked``. Revoking twice changes
    nothing (204 again)."""
    playlist = repo.get_playlist(playlist_id, session=session, listener=listener)
    repo.revoke_share(playlist, session=session)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/playlists/{playlist_id}/qr",
    responses={
        200: {"content": {"image/svg+xml": {}, "image/png": {}}},
        **_NOT_FOUND,
        409: {"model": ErrorOut},
    },
)
def share_qr(
    playlist_id: PlaylistIdPath,
    request: Request,
    settings: SettingsDep,
    listener: OptionalListenerDep,
    session: SessionDep,
    format: Annotated[Literal["svg", "png"], Query(description="svg or png")] = "svg",
) -> Response:
    """The share link as a QR code for a phone's camera; 409 ``not_shared`` without one."""
    playlist = repo.get_playlist(playlist_id, session=session, listener=listener)
    share = repo.active_share(playlist, session=session)
    if share is None:
        raise NotShared(f"playlist {playlist_id} is not shared: POST .../share first")
    link = _share_out(share, public_base(settings, request)).url
    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind=format, scale=8, border=4)
    media_type = "image/svg+xml" if format == "svg" else "image/png"
    return Response(buffer.getvalue(), media_type=media_type, headers={"Cache-Control": "no-store"})


@router.get(
    "/shared/{token}",
    response_model=SharedPlaylistOut,
    responses={**_NOT_FOUND, 410: {"model": ErrorOut}},
)
def open_shared(token: ShareTokenPath, session: SessionDep, lang: LangDep) -> SharedPlaylistOut:
    """A shared playlist, read-only, for anyone with the link: 404 for an unknown link, 410
    ``revoked`` for one its owner revoked."""
    playlist = repo.shared_playlist(token, session=session)
    full = PlaylistOut.from_playlist(playlist, lang)
    return SharedPlaylistOut(name=full.name, created_at=full.created_at, tracks=full.tracks)


@router.post(
    "/playlists/{playlist_id}/push",
    response_model=PushOut,
    responses={
        **_NOT_FOUND,
        400: {"model": ErrorOut},
        502: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },  # fmt: skip
)
def push_to_source(
    playlist_id: PlaylistIdPath,
    body: PushIn,
    listener: OptionalListenerDep,
    session: SessionDep,
    sources: SourceClientsDep,
) -> PushOut:
    """Save the playlist on a music server (Subsonic): created the first time, its songs
    replaced after that (one server playlist per playlist). Tracks that do not live on that
    server are skipped and counted; 400 when none does or the source is unknown."""
    playlist = repo.get_playlist(playlist_id, session=session, listener=listener)
    try:
        source = get_source(body.source, session=session)
    except NotFound as exc:  # the playlist exists; the body names nothing: a bad request
        raise InvalidInput(exc.message, source=body.source) from exc
    result = push_playlist(playlist, body.source, session=session, client=sources.get(source))
    session.commit()
    return PushOut(**result.as_dict())


@router.get("/sources", response_model=list[SourceOut])
def list_music_sources(session: SessionDep) -> list[SourceOut]:
    """The music servers playlists can be pushed to (names only: no addresses or users)."""
    return [SourceOut(name=s.name, kind=s.kind, synced_at=s.synced_at)
            for s in list_sources(session=session)]  # fmt: skip
