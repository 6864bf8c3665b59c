"""Non-music in a library and a catalog: stored and flagged, listed, never recommended unless
asked, removable, re-checked by a rescan. Real SQLite and PostgreSQL, real audio."""

import csv
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from moodtune.catalog import repo
from moodtune.catalog.db import session_scope
from moodtune.catalog.importers import import_catalog
from moodtune.catalog.index import load_matrix
from moodtune.catalog.library import (
    add_library,
    library_tracks,
    remove_from_library,
    rescan_library,
)
from moodtune.catalog.models import FeedbackEvent, Track, TrackEmbedding
from moodtune.errors import InvalidInput, NotFound
from moodtune.service import PlaylistParams, recommend_playlist
from moodtune.storage import LocalStorage

DEMO = Path(__file__).resolve().parents[2] / "demo" / "music"
RATE = 22050


@pytest.fixture
def mixed_folder(tmp_path: Path, spoken_word: list[Path]) -> Path:
    """Two real songs, and noise, silence, a test tone and a talk as a library holds them."""
    root = tmp_path / "mixed"
    (root / "songs").mkdir(parents=True)
    (root / "other").mkdir()
    for name in ("etr_1.ogg", "wesnoth_1.ogg"):
        shutil.copy(DEMO / name, root / "songs" / name)
    rng = np.random.default_rng(1)
    t = np.arange(20 * RATE) / RATE
    sf.write(root / "other" / "white_noise.flac", rng.normal(0, 0.1, len(t)), RATE)
    sf.write(root / "other" / "silence.wav", np.zeros(len(t)), RATE)
    sf.write(root / "other" / "tone_1k.wav", 0.4 * np.sin(2 * np.pi * 1000 * t), RATE)
    shutil.copy(spoken_word[0], root / "other" / "talk.wav")
    return root


def _storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "objects")


def test_non_music_is_stored_flagged_and_listed(
    mixed_folder: Path, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    report = add_library(mixed_folder, session_factory=session_factory, storage=_storage(tmp_path))
    assert report.added == 6 and report.failed == []
    reasons = {Path(str(f["path"])).name: f["reason"] for f in report.flagged}
    assert reasons == {
        "white_noise.flac": "noise (no pitched sound)",
        "silence.wav": "silence",
        "tone_1k.wav": "pure tone",
        "talk.wav": "speech or spoken word",
    }
    with session_factory() as session:
        flagged = library_tracks(session=session, flagged_only=True)
        everything = library_tracks(session=session)
    assert {Path(str(t.audio_path)).name for t in flagged} == set(reasons)
    assert len(everything) == 6
    music = [t for t in everything if t.non_music is None]
    assert len(music) == 2 and all((t.music_likelihood or 0) > 0.9 for t in music)
    assert all(t.music_likelihood is not None and t.music_likelihood < 0.5 for t in flagged)


def test_flagged_tracks_are_never_recommended_unless_asked(
    mixed_folder: Path, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    add_library(mixed_folder, session_factory=session_factory, storage=_storage(tmp_path))
    with session_factory() as session:
        matrix = load_matrix(session)
        flagged = {t.id for t in library_tracks(session=session, flagged_only=True)}
        for emotion, strategy in [("sad", "match"), ("happy", "uplift"), ("angry", "journey")]:
            params = PlaylistParams(
                emotions=emotion, strategy=strategy, n=6, playable_only=True, seed=0
            )  # type: ignore[arg-type]
            chosen = {
                r.id for r in recommend_playlist(params, matrix=matrix, session=session).ranked
            }
            assert chosen and not chosen & flagged
        asked = PlaylistParams(emotions="sad", n=6, playable_only=True, include_non_music=True)
        chosen = {r.id for r in recommend_playlist(asked, matrix=matrix, session=session).ranked}
        assert flagged <= chosen  # six tracks asked, all six come, flagged ones included


def test_remove_by_id_file_and_folder_with_feedback(
    mixed_folder: Path, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    storage = _storage(tmp_path)
    add_library(mixed_folder, session_factory=session_factory, storage=storage)
    with session_scope(session_factory) as session:
        ids = {Path(str(t.audio_path)).name: t.id for t in library_tracks(session=session)}
        listener = repo.get_or_create_listener(str(uuid.uuid4()), session=session)
        repo.add_feedback(
            session=session, listener=listener, track_id=ids["etr_1.ogg"], kind="like",
            position_ms=None,
        )  # fmt: skip

    one = remove_from_library(str(ids["talk.wav"]), session_factory=session_factory,
                              storage=storage)  # fmt: skip
    assert [r["id"] for r in one.removed] == [ids["talk.wav"]]
    by_file = remove_from_library(
        str(mixed_folder / "songs" / "etr_1.ogg"), session_factory=session_factory, storage=storage
    )
    assert by_file.as_dict()["count"] == 1
    folder = remove_from_library(
        str(mixed_folder / "other"), session_factory=session_factory, storage=storage
    )
    assert folder.as_dict()["count"] == 3
    with session_factory() as session:
        left = [Path(str(t.audio_path)).name for t in library_tracks(session=session)]
        assert left == ["wesnoth_1.ogg"]
        assert session.scalars(select(FeedbackEvent)).all() == []  # the like went with it
        assert len(session.scalars(select(TrackEmbedding)).all()) == 1
    assert (mixed_folder / "songs" / "etr_1.ogg").exists()  # the file itself is kept
    with pytest.raises(NotFound, match="no library track matches"):
        remove_from_library(str(mixed_folder / "other"), session_factory=session_factory,
                            storage=storage)  # fmt: skip


def test_a_catalog_track_cannot_be_removed_as_a_library_file(
    session_factory: sessionmaker[Session], tmp_path: Path, small_catalog: Path
) -> None:
    import_catalog(small_catalog, session_factory=session_factory)
    with session_factory() as session:
        catalog_id = session.scalars(select(Track.id).limit(1)).one()
    with pytest.raises(InvalidInput, match="is a catalog track"):
        remove_from_library(str(catalog_id), session_factory=session_factory,
                            storage=_storage(tmp_path))  # fmt: skip


def test_rescan_rechecks_old_analyses_in_place_and_lists_missing_files(
    mixed_folder: Path, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    storage = _storage(tmp_path)
    add_library(mixed_folder, session_factory=session_factory, storage=storage)
    with session_scope(session_factory) as session:  # as analysed before the music check
        before = {t.id: t.non_music for t in library_tracks(session=session)}
        session.execute(update(Track).values(non_music=None, music_likelihood=None))
    (mixed_folder / "other" / "silence.wav").unlink()

    report = rescan_library(session_factory=session_factory, storage=storage)
    assert report.updated == 5 and report.added == 0
    assert [Path(str(m["path"])).name for m in report.missing] == ["silence.wav"]
    with session_factory() as session:
        after = {t.id: t.non_music for t in library_tracks(session=session)}
    assert set(after) == set(before)  # same track ids
    assert {k: v for k, v in after.items() if v} == {
        k: v for k, v in before.items() if v and v != "silence"
    }
    again = rescan_library(session_factory=session_factory, storage=storage)
    assert (again.updated, again.unchanged, len(again.missing)) == (0, 5, 1)
    everything = rescan_library(session_factory=session_factory, storage=storage, everything=True)
    assert everything.updated == 5


def test_catalog_rows_that_are_not_music_are_flagged_counted_and_searchable(
    session_factory: sessionmaker[Session], tmp_path: Path, catalog_rows: list[dict[str, str]]
) -> None:
    base = next(r for r in catalog_rows if r["genres_all"] == "rock" and r["tempo"])
    header = list(base)

    def row(sid: str, title: str, artist: str, **fields: str) -> list[str]:
        values = {**base, "track_id": sid, "track_name": title, "artists": artist, **fields}
        return [values[h] for h in header]

    rows = [
        row("0" * 21 + "1", "White Noise for Deep Sleep", "Sleep Baby Sleep"),
        row("0" * 21 + "2", "Heavy Rain Sounds", "Nature Recordings"),
        row("0" * 21 + "3", "Mending Wall", "A Poet", speechiness="0.93", genres_all=""),
        row("0" * 21 + "4", "Mic Check", "A Rapper", speechiness="0.8", genres_all="rap"),
        row("0" * 21 + "5", "Drift", "Ambient Person", tempo="0"),
        row("0" * 21 + "6", "Rain", "The Band"),
    ]
    path = tmp_path / "flags.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    report = import_catalog(path, session_factory=session_factory).as_dict()
    assert report["inserted"] == 6 and report["non_music"] == 4
    assert report["non_music_by_reason"] == {
        "noise recording": 1,
        "nature or ambience recording": 1,
        "spoken word": 1,
        "no beat or pitch": 1,
    }
    with session_factory() as session:
        found, total = repo.search_tracks(session=session, q="white noise")
        assert total == 1 and found[0].non_music == "noise recording"
        _, flagged = repo.search_tracks(session=session, flagged=True)
        assert flagged == 4
        matrix = load_matrix(session)
        for emotion in ("sad", "happy", "neutral"):
            params = PlaylistParams(emotions=emotion, n=6, seed=1)
            chosen = {
                r.id for r in recommend_playlist(params, matrix=matrix, session=session).ranked
            }
            assert {
                t.title for t in repo.tracks_by_ids(list(chosen), session=session).values()
            } <= {
                "Mic Check",
                "Rain",
            }
