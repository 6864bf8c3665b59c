"""Browse and search the catalog; stream audio and covers; find tracks that sound alike."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from moodtune.api.covers import placeholder_cover
from moodtune.api.deps import IndexDep, LangDep, SessionDep, SourceClientsDep, StorageDep
from moodtune.api.params import Offset, TrackIdPath
from moodtune.api.relay import relay_stream
from moodtune.api.schemas import (
    FEATURE_FIELDS,
    CatalogSummaryOut,
    ErrorOut,
    GenreOut,
    SimilarOut,
    SimilarTrackOut,
    TrackOut,
    TrackPage,
    reasons_out,
)
from moodtune.catalog import repo
from moodtune.catalog.models import Source
from moodtune.errors import NotAnalysed, NotFound
from moodtune.recommend.similar import nearest, similarity_reasons

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
    flagged: Annotated[
        bool | None,
        Query(description="true: only tracks flagged as not music; false: only music."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Offset = 0,
) -> TrackPage:
    """Search tracks by text and genre, most popular first, one page at a time. Tracks flagged
    as not music are listed too (with ``non_music`` saying why) unless ``flagged=false``."""
    items, total = repo.search_tracks(
        session=session, q=q, genre=genre, flagged=flagged, limit=limit, offset=offset
    )
    return TrackPage(
        items=[TrackOut.from_track(t) for t in items], total=total, limit=limit, offset=offset
    )


@router.get("/tracks/{track_id}", response_model=TrackOut, responses={404: {"model": ErrorOut}})
def get_track(track_id: TrackIdPath, session: SessionDep) -> TrackOut:
    """One track with its features, genres and the estimator behind each feature."""
    return TrackOut.from_track(repo.get_track(track_id, session=session))


@router.get("/catalog", response_model=CatalogSummaryOut)
def catalog_summary(session: SessionDep) -> CatalogSummaryOut:
    """How many tracks there are, how many are marked explicit or have no explicit flag, and
    how many this server can stream (the page hides filters that would do nothing)."""
    return CatalogSummaryOut(**repo.catalog_summary(session=session))


@router.get("/genres", response_model=list[GenreOut])
def list_genres(session: SessionDep) -> list[GenreOut]:
    """Every genre with its number of tracks, largest first (for the genre picker)."""
    return [GenreOut(name=name, tracks=count) for name, count in repo.genre_counts(session=session)]


@router.get(
    "/tracks/{track_id}/audio",
    response_class=FileResponse,
    responses={
        200: {"content": {"audio/*": {}}, "description": "The whole file."},
        206: {"description": "The requested byte range (HTTP Range)."},
        307: {"description": "Redirect to the object store (S3), which serves ranges itself."},
        404: {"model": ErrorOut},
        416: {"description": "The range lies outside the file."},
        502: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
)
def get_track_audio(
    track_id: TrackIdPath,
    request: Request,
    session: SessionDep,
    storage: StorageDep,
    sources: SourceClientsDep,
) -> Response:
    """Stream the track's audio with HTTP Range support (seeking in a player). A song on a
    music server (Subsonic) is streamed through moodtune: the browser never sees the server's
    address or credentials. 503 ``source_unavailable`` / 502 ``source_auth`` when that server
    fails."""
    track = repo.get_track(track_id, session=session)
    media_type = track.audio_mime or "application/octet-stream"
    if track.source_id is not None and track.remote_id is not None:
        source = session.get(Source, track.source_id)
        assert source is not None  # the foreign key keeps them together
        return relay_stream(sources.get(source), track.remote_id, request.headers.get("range"))
    if track.audio_key:  # a copy in object storage wins over the original path
        local = storage.local_path(track.audio_key)
        if local is not None:
            return FileResponse(local, media_type=media_type)
        url = storage.url(track.audio_key)
        if url is not None:
            return RedirectResponse(url, status_code=307)
    if track.audio_path:
        path = Path(track.audio_path)
        if not path.is_file():
            raise NotFound(
                f"the audio file of track {track_id} is gone (moved or deleted); "
                "run `moodtune library add` on its folder again",
                track_id=track_id,
            )
        return FileResponse(path, media_type=media_type)
    raise NotFound(
        f"track {track_id} has no audio here (a catalog entry: open it on Spotify)",
        track_id=track_id,
    )


@router.get(
    "/tracks/{track_id}/cover",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/svg+xml": {}}},
        404: {"model": ErrorOut},
    },
)
def get_track_cover(track_id: TrackIdPath, session: SessionDep, storage: StorageDep) -> Response:
    """The embedded cover art, or a generated placeholder (SVG) when the file has none."""
    track = repo.get_track(track_id, session=session)
    headers = {"Cache-Control": "public, max-age=86400"}
    if track.cover_key:
        suffix = Path(track.cover_key).suffix
        media_type = {".png": "image/png", ".webp": "image/webp"}.get(suffix, "image/jpeg")
        local = storage.local_path(track.cover_key)
        if local is not None:
            return FileResponse(local, media_type=media_type, headers=headers)
        return Response(storage.read(track.cover_key), media_type=media_type, headers=headers)
    svg = placeholder_cover(track.title, track.artists or [])
    return Response(svg, media_type="image/svg+xml", headers=headers)


@router.get(
    "/tracks/{track_id}/similar",
    response_model=SimilarOut,
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
def get_similar_tracks(
    track_id: TrackIdPath,
    session: SessionDep,
    index: IndexDep,
    lang: LangDep,
    n: Annotated[int, Query(ge=1, le=100, description="How many tracks.")] = 10,
    include_non_music: Annotated[
        bool, Query(description="Also return tracks flagged as not music.")
    ] = False,
) -> SimilarOut:
    """Tracks that sound most alike (cosine of audio embeddings), each with reasons. Tracks
    flagged as not music (noise, speech, …) are left out unless ``include_non_music``."""
    seed = repo.get_track(track_id, session=session)
    table = index.current().embeddings
    if track_id not in table:
        raise NotAnalysed(
            f"track {track_id} has not been analysed: similar tracks need its audio "
            "(`moodtune library add`)",
            track_id=track_id,
        )
    found = nearest(table, track_id, n, include_hidden=include_non_music)
    ids = [seed.id, *(i for i, _ in found)]
    tracks = repo.tracks_by_ids(ids, session=session)
    styles = repo.embedding_styles(ids, session=session)
    seed_features = {f: getattr(seed, f) for f in FEATURE_FIELDS}
    items = []
    for other_id, cosine in found:
        other = tracks.get(other_id)
        if other is None:  # deleted since the index was built
            continue
        reasons = similarity_reasons(
            cosine,
            seed_features,
            {f: getattr(other, f) for f in FEATURE_FIELDS},
            styles.get(seed.id, {}),
            styles.get(other_id, {}),
        )
        items.append(SimilarTrackOut(**TrackOut.from_track(other).model_dump(), similarity=cosine,
                                     reasons=reasons_out(reasons, lang)))  # fmt: skip
    return SimilarOut(track=TrackOut.from_track(seed), tracks=items)
