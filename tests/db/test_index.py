"""The catalog index publishes one frozen snapshot, and the taste cache is safe to share: a
background rebuild under running requests never mixes two builds or loses a cache entry."""

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from moodtune.catalog import repo
from moodtune.catalog.db import session_scope
from moodtune.catalog.importers import import_catalog
from moodtune.catalog.index import CatalogIndex, CatalogSnapshot
from moodtune.catalog.models import Playlist, Track
from moodtune.service import PlaylistParams, TasteCache, playlist_for_listener


@pytest.fixture
def liked(session_factory: sessionmaker[Session], small_catalog: Path) -> str:
    """A listener who liked ten jazz tracks and disliked ten rock ones, in the real catalog."""
    import_catalog(small_catalog, session_factory=session_factory)
    listener_id = str(uuid.uuid4())
    with session_scope(session_factory) as session:
        listener = repo.get_or_create_listener(listener_id, session=session)
        for genre, kind in (("jazz", "like"), ("rock", "dislike")):
            tracks, _ = repo.search_tracks(session=session, genre=genre, limit=10)
            for track in tracks:
                repo.add_feedback(
                    session=session, listener=listener, track_id=track.id, kind=kind,
                    position_ms=None,
                )  # fmt: skip
    return listener_id


def test_a_snapshot_is_frozen_and_built_from_one_catalog_version(
    session_factory: sessionmaker[Session], liked: str
) -> None:
    snapshot = CatalogIndex(session_factory).load()
    assert isinstance(snapshot, CatalogSnapshot) and snapshot.tracks_in_db == 1500
    assert np.array_equal(snapshot.taste_space.ids, snapshot.matrix.ids)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.matrix = None  # type: ignore[misc]


def test_rebuilds_under_running_requests_never_break_a_playlist(
    session_factory: sessionmaker[Session], liked: str
) -> None:
    index = CatalogIndex(session_factory, refresh_s=0)
    index.load()
    cache = TasteCache(size=2)  # tiny, so entries are evicted while others read them
    params = PlaylistParams(emotions="happy", n=10, personalization="high", seed=1)
    stop, failures = threading.Event(), []

    def rebuild() -> None:
        while not stop.is_set():
            index.load()

    def request(listener_id: str | None) -> None:
        try:
            for _ in range(15):
                with session_factory() as session:
                    result = playlist_for_listener(
                        params, listener_id, index=index, taste_cache=cache, session=session
                    )
                assert len(result.ranked) == 10
        except Exception as exc:  # collected, so the main thread reports it
            failures.append(exc)

    rebuilder = threading.Thread(target=rebuild)
    readers = [threading.Thread(target=request, args=(who,)) for who in (liked, liked, None)]
    rebuilder.start()
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    stop.set()
    rebuilder.join()
    assert failures == []
    assert len(cache) <= 2


def test_the_taste_cache_refits_only_on_new_feedback_or_a_new_catalog(
    session_factory: sessionmaker[Session], liked: str
) -> None:
    index, cache = CatalogIndex(session_factory), TasteCache()
    params = PlaylistParams(emotions="happy", n=10, personalization="high", seed=1)

    def recommend() -> None:
        with session_factory() as session:
            playlist_for_listener(params, liked, index=index, taste_cache=cache, session=session)

    recommend()
    recommend()
    assert len(cache) == 1  # same feedback, same snapshot: one fit
    with session_scope(session_factory) as session:
        listener = repo.get_or_create_listener(liked, session=session)
        track = repo.search_tracks(session=session, genre="ambient", limit=1)[0][0]
        repo.add_feedback(
            session=session, listener=listener, track_id=track.id, kind="like", position_ms=None
        )
    recommend()
    assert len(cache) == 2
    index.load()  # a new build of an unchanged catalog has the same version: still cached
    recommend()
    assert len(cache) == 2


@contextmanager
def _playlist_deleted_under_a_session(
    session_factory: sessionmaker[Session], *, shared: bool
) -> Iterator[tuple[Session, Playlist]]:
    """A playlist loaded in one session (with its share link loaded too, if ``shared``) and then
    deleted by another: what a request holds when a concurrent request deletes the playlist."""
    with session_scope(session_factory) as session:
        track = Track(source="test", title="t", artists=[], search_text="t")
        session.add(track)
        session.flush()
        listener = repo.get_or_create_listener(str(uuid.uuid4()), session=session)
        playlist = repo.create_playlist(
            session=session, listener=listener, name="p", items=[{"track_id": track.id}], params={}
        )
        if shared:
            repo.share_playlist(playlist, session=session)
        playlist_id, listener_id = playlist.id, listener.id
    racing = session_factory()
    mine = repo.get_playlist(
        playlist_id, session=racing, listener=repo.get_listener(listener_id, session=racing)
    )
    if shared:
        assert repo.active_share(mine, session=racing) is not None  # loaded before the delete
    with session_scope(session_factory) as other:
        repo.delete_playlist(other.get(Playlist, playlist_id), session=other)  # type: ignore[arg-type]
    try:
        yield racing, mine
    finally:
        racing.rollback()
        racing.close()


def test_revoking_a_share_while_its_playlist_is_deleted_does_not_fail(
    session_factory: sessionmaker[Session],
) -> None:
    """Found by the fuzz run (two workers): DELETE /share racing DELETE /playlists/{id} was a
    500 (StaleDataError); revoking is now one UPDATE that may match nothing."""
    with _playlist_deleted_under_a_session(session_factory, shared=True) as (racing, mine):
        assert repo.revoke_share(mine, session=racing) is False


def test_a_row_deleted_under_a_request_is_answered_404_not_500(
    session_factory: sessionmaker[Session],
) -> None:
    """Renaming a playlist that another request deletes meanwhile fails in the flush
    (StaleDataError); the API answers that as the 404 it is for this request."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from sqlalchemy.orm.exc import StaleDataError

    from moodtune.api.errors import install_error_handlers

    with _playlist_deleted_under_a_session(session_factory, shared=False) as (racing, mine):
        with pytest.raises(StaleDataError) as raised:
            repo.rename_playlist(mine, "new", session=racing)

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/race")
    def race() -> None:
        raise raised.value

    answer = TestClient(app, raise_server_exceptions=False).get("/race")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
