"""Catalog queries. Every function takes ``session`` keyword-only and never commits: the caller
owns the unit of work (``with session_scope(factory) as session``)."""

import json
import secrets
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Text, cast, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moodtune.catalog.models import (
    LIBRARY_SOURCE,
    FeedbackEvent,
    Genre,
    Listener,
    Playlist,
    PlaylistItem,
    PlaylistShare,
    Track,
    TrackEmbedding,
    track_genres,
    utcnow,
)
from moodtune.errors import InvalidInput, NotFound, Revoked
from moodtune.recommend.genres import GenreLinks
from moodtune.recommend.rank import track_song_key

__all__ = [
    "MATRIX_COLUMNS",
    "TrackRow",
    "UpsertCounts",
    "active_share",
    "add_feedback",
    "catalog_summary",
    "catalog_version",
    "described",
    "create_playlist",
    "delete_playlist",
    "embedding_matrix",
    "embedding_styles",
    "escape_like",
    "feedback_of",
    "genre_counts",
    "genre_ids",
    "get_listener",
    "get_or_create_listener",
    "get_playlist",
    "get_track",
    "list_playlists",
    "library_track_count",
    "matrix_columns",
    "parse_listener_id",
    "rename_playlist",
    "revoke_share",
    "search_tracks",
    "share_playlist",
    "shared_playlist",
    "track_count",
    "tracks_by_ids",
    "upsert_tracks",
]

#: Track columns an import writes (besides genres); compared to decide "updated" vs "unchanged".
TRACK_FIELDS: tuple[str, ...] = (
    "source", "title", "artists", "album", "release_date", "year", "search_text", "song_key",
    "danceability", "energy", "valence", "acousticness", "instrumentalness", "speechiness",
    "liveness", "tempo", "loudness", "key", "mode", "time_signature", "popularity",
    "duration_ms", "explicit", "estimators", "non_music",
)  # fmt: skip
MATRIX_COLUMNS: tuple[str, ...] = (
    "valence", "energy", "danceability", "acousticness", "instrumentalness", "speechiness",
    "liveness", "tempo", "loudness", "mode", "key",
)  # fmt: skip


@dataclass
class TrackRow:
    """One validated catalog row ready to upsert; ``values`` holds ``TRACK_FIELDS``."""

    spotify_id: str
    values: dict[str, Any]
    genres: list[str] = field(default_factory=list)


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def genre_ids(names: Iterable[str], *, session: Session) -> dict[str, int]:
    """Ids for genre names, creating the missing ones."""
    wanted = set(names)
    if not wanted:
        return {}
    found = dict(session.execute(select(Genre.name, Genre.id).where(Genre.name.in_(wanted))).all())
    missing = sorted(wanted - set(found))
    if missing:
        session.execute(insert(Genre), [{"name": n} for n in missing])
        found.update(
            session.execute(select(Genre.name, Genre.id).where(Genre.name.in_(missing))).all()
        )
    return found


def upsert_tracks(
    rows: Sequence[TrackRow], *, session: Session, merge_genres: frozenset[str] = frozenset()
) -> UpsertCounts:
    """Insert new tracks and update changed ones, keyed by Spotify id.

    Genres of a track are replaced by the row's. Ids in ``merge_genres`` were written earlier
    in the same import: they keep their values, gain the row's genres and are not counted.
    """
    counts = UpsertCounts()
    if not rows:
        return counts
    by_sid = {r.spotify_id: r for r in rows}
    cols = [getattr(Track, f) for f in TRACK_FIELDS]
    existing = {
        row.spotify_id: row
        for row in session.execute(
            select(Track.id, Track.spotify_id, *cols).where(Track.spotify_id.in_(by_sid))
        ).all()
    }
    old_genres: dict[int, set[str]] = {}
    if existing:
        query = (
            select(track_genres.c.track_id, Genre.name)
            .join(Genre, Genre.id == track_genres.c.genre_id)
            .where(track_genres.c.track_id.in_([r.id for r in existing.values()]))
        )
        for track_id, name in session.execute(query).all():
            old_genres.setdefault(track_id, set()).add(name)

    now = utcnow()
    new_rows = [r for sid, r in by_sid.items() if sid not in existing]
    ids: dict[str, int] = {}
    if new_rows:
        payload = [
            {"spotify_id": r.spotify_id, **r.values, "created_at": now, "updated_at": now}
            for r in new_rows
        ]
        result = session.execute(insert(Track).returning(Track.id, Track.spotify_id), payload)
        ids.update({sid: tid for tid, sid in result.all() if sid is not None})
        counts.inserted = len(new_rows)

    changes: list[dict[str, Any]] = []
    touched: list[dict[str, Any]] = []  # merged duplicates: genres changed, values kept
    wanted_genres: dict[int, set[str]] = {ids[r.spotify_id]: set(r.genres) for r in new_rows}
    for sid, old in existing.items():
        row, before = by_sid[sid], old_genres.get(old.id, set())
        if sid in merge_genres:
            if not set(row.genres) <= before:
                touched.append({"id": old.id, "updated_at": now})
                wanted_genres[old.id] = before | set(row.genres)
            continue
        if set(row.genres) != before or any(
            getattr(old, f) != row.values.get(f) for f in TRACK_FIELDS
        ):
            changes.append({"id": old.id, **row.values, "updated_at": now})
            wanted_genres[old.id] = set(row.genres)
            counts.updated += 1
        else:
            counts.unchanged += 1
    for params in (changes, touched):
        if params:
            session.execute(update(Track), params)
    relinked = [c["id"] for c in changes + touched]
    if relinked:
        session.execute(delete(track_genres).where(track_genres.c.track_id.in_(relinked)))
    ids_by_name = genre_ids({g for gs in wanted_genres.values() for g in gs}, session=session)
    links = [
        {"track_id": t, "genre_id": ids_by_name[g]}
        for t, gs in wanted_genres.items()
        for g in sorted(gs)
    ]
    if links:
        session.execute(insert(track_genres), links)
    return counts


def get_track(track_id: int, *, session: Session) -> Track:
    track = session.get(Track, track_id)
    if track is None:
        raise NotFound(f"track {track_id} not found", track_id=track_id)
    return track


def tracks_by_ids(ids: Sequence[int], *, session: Session) -> dict[int, Track]:
    if not ids:
        return {}
    return {t.id: t for t in session.scalars(select(Track).where(Track.id.in_(list(ids))))}


def escape_like(text: str) -> str:
    """``text`` matched literally by ``LIKE … ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_tracks(
    *,
    session: Session,
    q: str | None = None,
    genre: str | None = None,
    flagged: bool | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[Track], int]:
    """Tracks whose title, artists or album contain every word of ``q``, most popular first;
    ``flagged`` True/False keeps only non-music/music rows."""
    query = select(Track)
    if flagged is not None:
        query = query.where(Track.non_music.is_not(None) if flagged else Track.non_music.is_(None))
    for word in (q or "").casefold().split():
        query = query.where(Track.search_text.like(f"%{escape_like(word)}%", escape="\\"))
    if genre:
        genre_id = session.scalar(select(Genre.id).where(Genre.name == genre.casefold()))
        if genre_id is None:
            raise NotFound(f"unknown genre {genre!r}", genre=genre)
        query = query.where(
            Track.id.in_(select(track_genres.c.track_id).where(track_genres.c.genre_id == genre_id))
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = (Track.popularity.is_(None), Track.popularity.desc(), Track.id)
    items = list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))
    return items, total


def genre_counts(*, session: Session) -> list[tuple[str, int]]:
    """Every genre with its number of tracks, largest first."""
    query = (
        select(Genre.name, func.count(track_genres.c.track_id))
        .join(track_genres, track_genres.c.genre_id == Genre.id, isouter=True)
        .group_by(Genre.name)
        .order_by(func.count(track_genres.c.track_id).desc(), Genre.name)
    )
    return [(name, int(count)) for name, count in session.execute(query).all()]


def catalog_summary(*, session: Session) -> dict[str, int]:
    """Counts the page needs to show or hide its filters: tracks, explicit, explicit unknown,
    and tracks with audio this server can stream."""
    row = session.execute(
        select(
            func.count(Track.id),
            func.count(Track.id).filter(Track.explicit.is_(True)),
            func.count(Track.id).filter(Track.explicit.is_(None)),
            func.count(Track.id).filter(
                Track.audio_path.is_not(None)
                | Track.audio_key.is_not(None)
                | Track.source_id.is_not(None)
            ),
        )
    ).one()
    return dict(
        zip(("tracks", "explicit", "explicit_unknown", "playable"), map(int, row), strict=True)
    )


def track_count(*, session: Session) -> int:
    return session.scalar(select(func.count(Track.id))) or 0


def catalog_version(*, session: Session) -> tuple[int, datetime | None]:
    """Changes whenever tracks are added, removed or updated (any process, any replica).

    Two subqueries, not one select of both aggregates: apart, the newest time is one step down
    the ``updated_at`` index and the count a scan of it (about 1 ms at 82k tracks in SQLite,
    8 ms together, since the pair makes SQLite read every index entry's value)."""
    count = select(func.count()).select_from(Track).scalar_subquery()
    newest = select(func.max(Track.updated_at)).scalar_subquery()
    total, changed = session.execute(select(count, newest)).one()
    return int(total), changed


def described(
    title: str, artists: list[str], album: str | None, year: int | None
) -> dict[str, Any]:
    """The descriptive columns of a track, with its search text and song key: one rule for
    catalog files, music libraries and media servers."""
    search_text = " ".join([title, *artists, album or ""]).casefold().strip()
    return {"title": title, "artists": artists, "album": album, "year": year,
            "search_text": search_text, "song_key": track_song_key(title, artists)}  # fmt: skip


def library_track_count(*, session: Session) -> int:
    """Tracks that came from music libraries (``moodtune library add``)."""
    query = select(func.count()).select_from(Track).where(Track.source == LIBRARY_SOURCE)
    return int(session.scalar(query) or 0)


def matrix_columns(*, session: Session) -> dict[str, Any]:
    """Row-aligned columns for :meth:`moodtune.recommend.TrackMatrix.build`, fetched as
    columns: numbers straight into numpy, every artist list decoded by one JSON parse, genres as
    (row, genre) links and song keys as stored; no Python work per track beyond the driver's."""
    playable = (Track.audio_path.is_not(None) | Track.audio_key.is_not(None)
                | Track.source_id.is_not(None))  # fmt: skip
    query = (
        select(Track.id, Track.title, cast(Track.artists, Text), Track.song_key, Track.popularity,
               Track.explicit, playable, Track.duration_ms, Track.non_music.is_not(None),
               cast(TrackEmbedding.quadrant, Text), *[getattr(Track, c) for c in MATRIX_COLUMNS])
        .join(TrackEmbedding, TrackEmbedding.track_id == Track.id, isouter=True)
        .order_by(Track.id)
    )  # fmt: skip
    rows = session.connection().execute(query).all()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(query.selected_columns)
    (ids, titles, artists, song_keys, popularity, explicit, playable_flags, durations, non_music,
     quadrants) = columns[:10]  # fmt: skip
    features = dict(zip(MATRIX_COLUMNS, columns[10:], strict=True))
    id_array = np.array(ids, dtype=np.int64)
    return {
        "ids": id_array,
        "titles": titles,
        "artists": json.loads("[" + ",".join(artists) + "]"),
        "song_keys": song_keys,
        "popularity": np.array(popularity, dtype=np.float64),
        "explicit": np.array(explicit, dtype=bool),
        "features": {c: np.array(v, dtype=np.float64) for c, v in features.items()},
        "genres": _genre_links(id_array, session=session),
        "playable": np.array(playable_flags, dtype=bool),
        "durations_ms": np.array(durations, dtype=np.float64),
        "quadrants": [json.loads(q) if q else None for q in quadrants],
        "non_music": np.array(non_music, dtype=bool),
    }


def _genre_links(ids: np.ndarray, *, session: Session) -> GenreLinks:
    """Genre links of the tracks ``ids`` (sorted), rows found by binary search."""
    names = dict(session.connection().execute(select(Genre.id, Genre.name)).all())
    links = (
        session.connection().execute(select(track_genres.c.track_id, track_genres.c.genre_id)).all()
    )
    pairs = np.array(links, dtype=np.int64).reshape(-1, 2)
    track_ids, genre_ids = pairs[:, 0], pairs[:, 1]
    codes, code_of_link = np.unique(genre_ids, return_inverse=True)
    rows = np.searchsorted(ids, track_ids)
    present = rows < len(ids)
    present[present] &= ids[rows[present]] == track_ids[present]
    return GenreLinks(
        len(ids), rows[present], code_of_link[present].astype(np.int64),
        [names[int(c)] for c in codes],
    )  # fmt: skip


def embedding_matrix(*, session: Session) -> tuple[np.ndarray, np.ndarray]:
    """(track ids int64 (n,), unit-norm float32 (n, dim)) of analysed tracks.

    Vectors of another dimension than the majority (an older model) are left out.
    """
    rows = session.execute(
        select(TrackEmbedding.track_id, TrackEmbedding.vector).order_by(TrackEmbedding.track_id)
    ).all()
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    vectors = [np.frombuffer(r.vector, dtype="<f4") for r in rows]
    dim = Counter(len(v) for v in vectors).most_common(1)[0][0]
    keep = [i for i, v in enumerate(vectors) if len(v) == dim]
    matrix = np.stack([vectors[i] for i in keep]).astype(np.float32)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return np.array([rows[i].track_id for i in keep], np.int64), matrix


def embedding_styles(ids: Sequence[int], *, session: Session) -> dict[int, dict[str, float]]:
    """Style probabilities of analysed tracks among ``ids``."""
    if not ids:
        return {}
    query = select(TrackEmbedding.track_id, TrackEmbedding.style).where(
        TrackEmbedding.track_id.in_(list(ids))
    )
    return {row.track_id: row.style for row in session.execute(query).all()}


def parse_listener_id(listener_id: str | None) -> str | None:
    """The canonical form of a cookie's listener id, or None when it is absent or no UUID."""
    if not listener_id:
        return None
    try:
        return str(uuid.UUID(listener_id))
    except ValueError:
        return None


def get_listener(listener_id: str | None, *, session: Session) -> Listener | None:
    parsed = parse_listener_id(listener_id)
    return session.get(Listener, parsed) if parsed else None


def get_or_create_listener(listener_id: str, *, session: Session) -> Listener:
    """The listener with this id, created on its first write (reads never create one)."""
    parsed = parse_listener_id(listener_id)
    if parsed is None:
        raise InvalidInput("a listener id is a UUID", listener_id=listener_id)
    listener = session.get(Listener, parsed)
    if listener is not None:
        return listener
    try:
        with session.begin_nested():  # a savepoint: the first write of two at once may lose
            listener = Listener(id=parsed)
            session.add(listener)
    except IntegrityError:  # the same browser's other request stored it first
        listener = session.get(Listener, parsed)
        assert listener is not None
    return listener


def add_feedback(
    *, session: Session, listener: Listener, track_id: int, kind: str, position_ms: int | None
) -> FeedbackEvent:
    get_track(track_id, session=session)
    event = FeedbackEvent(
        listener_id=listener.id, track_id=track_id, kind=kind, position_ms=position_ms
    )
    session.add(event)
    session.flush()
    return event


def feedback_of(listener_id: str, *, session: Session) -> list[FeedbackEvent]:
    """Every feedback event of one listener, oldest first."""
    query = (
        select(FeedbackEvent)
        .where(FeedbackEvent.listener_id == listener_id)
        .order_by(FeedbackEvent.id)
    )
    return list(session.scalars(query))


def create_playlist(
    *,
    session: Session,
    listener: Listener,
    name: str,
    items: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
) -> Playlist:
    """Save tracks in order; each item has ``track_id`` and optional ``score`` and ``reasons``."""
    ids = [int(i["track_id"]) for i in items]
    found = tracks_by_ids(ids, session=session)
    missing = sorted(set(ids) - set(found))
    if missing:
        raise InvalidInput(f"unknown track id(s): {missing}", unknown=missing)
    playlist = Playlist(listener_id=listener.id, name=name, params=dict(params))
    playlist.items = [
        PlaylistItem(
            position=pos,
            track_id=i["track_id"],
            score=i.get("score"),
            reasons=list(i.get("reasons") or []),
        )
        for pos, i in enumerate(items)
    ]
    session.add(playlist)
    session.flush()
    return playlist


def list_playlists(*, session: Session, listener: Listener) -> list[Playlist]:
    query = select(Playlist).where(Playlist.listener_id == listener.id)
    return list(session.scalars(query.order_by(Playlist.created_at.desc(), Playlist.id.desc())))


def get_playlist(playlist_id: int, *, session: Session, listener: Listener | None) -> Playlist:
    """A listener's own playlist; someone else's looks exactly like a missing one."""
    playlist = session.get(Playlist, playlist_id)
    if playlist is None or listener is None or playlist.listener_id != listener.id:
        raise NotFound(f"playlist {playlist_id} not found", playlist_id=playlist_id)
    return playlist


def rename_playlist(playlist: Playlist, name: str, *, session: Session) -> Playlist:
    playlist.name = name
    session.flush()
    return playlist


def delete_playlist(playlist: Playlist, *, session: Session) -> None:
    """The playlist, its items and its share links (an old link then answers 404)."""
    session.execute(delete(PlaylistShare).where(PlaylistShare.playlist_id == playlist.id))
    session.delete(playlist)
    session.flush()


def active_share(playlist: Playlist, *, session: Session) -> PlaylistShare | None:
    query = select(PlaylistShare).where(
        PlaylistShare.playlist_id == playlist.id, PlaylistShare.revoked_at.is_(None)
    )
    return session.scalars(query).first()


def share_playlist(playlist: Playlist, *, session: Session) -> PlaylistShare:
    """The playlist's share link, made now unless one is active (sharing twice is one link)."""
    share = active_share(playlist, session=session)
    if share is None:
        share = PlaylistShare(token=secrets.token_urlsafe(24), playlist_id=playlist.id)
        session.add(share)
        session.flush()
    return share


def revoke_share(playlist: Playlist, *, session: Session) -> bool:
    """Revoke the active link; False when there was none. One UPDATE statement, so two
    revocations at the same moment cannot trip over each other."""
    result = session.execute(
        update(PlaylistShare)
        .where(PlaylistShare.playlist_id == playlist.id, PlaylistShare.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(PlaylistShare.token)
    )
    return result.first() is not None


def shared_playlist(token: str, *, session: Session) -> Playlist:
    """The playlist behind a share token: 404 for a token never made, 410 once revoked."""
    share = session.get(PlaylistShare, token)
    if share is None:
        raise NotFound("no playlist is shared under this link")
    if share.revoked_at is not None:
        raise Revoked("this link was revoked by the playlist's owner")
    return share.playlist
