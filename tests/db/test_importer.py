"""Catalog import on SQLite and PostgreSQL, with real rows of the bundled catalog."""

import csv
import gzip
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from moodtune.catalog import repo
from moodtune.catalog.importers import import_catalog
from moodtune.catalog.models import Genre, Track
from moodtune.errors import BadCatalogFile, InvalidInput

KAGGLE_COLUMNS = {  # our name -> Kaggle "Spotify Tracks Dataset" header
    "track_id": "track_id",
    "artists": "artists",
    "album_name": "album_name",
    "track_name": "track_name",
    "popularity": "popularity",
    "duration_ms": "duration_ms",
    "danceability": "danceability",
    "energy": "energy",
    "key": "key",
    "loudness": "loudness",
    "mode": "mode",
    "speechiness": "speechiness",
    "acousticness": "acousticness",
    "instrumentalness": "instrumentalness",
    "liveness": "liveness",
    "valence": "valence",
    "tempo": "tempo",
    "time_signature": "time_signature",
    "genre": "track_genre",
}
EXPORTIFY_COLUMNS = {
    "track_id": "Track URI",
    "track_name": "Track Name",
    "artists": "Artist Name(s)",
    "album_name": "Album Name",
    "release_date": "Album Release Date",
    "duration_ms": "Track Duration (ms)",
    "popularity": "Popularity",
    "danceability": "Danceability",
    "energy": "Energy",
    "key": "Key",
    "loudness": "Loudness",
    "mode": "Mode",
    "speechiness": "Speechiness",
    "acousticness": "Acousticness",
    "instrumentalness": "Instrumentalness",
    "liveness": "Liveness",
    "valence": "Valence",
    "tempo": "Tempo",
    "time_signature": "Time Signature",
    "genres_all": "Artist Genres",
}


@pytest.fixture(scope="module")
def real_rows(catalog_rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Complete rows (every field present) so each mapping carries real values."""
    complete = [
        r
        for r in catalog_rows
        if r["album_name"] and r["genres_all"] and r["mode"] and r["time_signature"]
    ]
    return complete[:60]


def _write(path: Path, header: list[str], rows: list[list[str]], *, gz: bool = False) -> Path:
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8", newline="") as f:  # type: ignore[operator]
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _as(
    columns: dict[str, str], rows: list[dict[str, str]], transform: dict[str, object] | None = None
) -> tuple[list[str], list[list[str]]]:
    transform = transform or {}
    out = []
    for r in rows:
        out.append([transform[k](r[k]) if k in transform else r[k] for k in columns])  # type: ignore[operator]
    return list(columns.values()), out


def _count(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return repo.track_count(session=s)


def test_kaggle_columns_import_with_genres(
    tmp_path: Path, session_factory: sessionmaker[Session], real_rows: list[dict[str, str]]
) -> None:
    header, rows = _as(KAGGLE_COLUMNS, real_rows, {"artists": lambda a: a.replace(", ", ";")})
    report = import_catalog(
        _write(tmp_path / "kaggle.csv", header, rows), session_factory=session_factory
    )
    assert (report.inserted, report.rejected) == (60, 0)
    with session_factory() as s:
        track = s.scalar(select(Track).where(Track.spotify_id == real_rows[0]["track_id"]))
        assert track is not None
        assert track.title == real_rows[0]["track_name"]
        assert track.valence == pytest.approx(float(real_rows[0]["valence"]))
        assert [g.name for g in track.genres] == [real_rows[0]["genre"]]
        assert track.estimators and track.estimators["valence"] == "spotify"


def test_exportify_columns_and_gzip_import(
    tmp_path: Path, session_factory: sessionmaker[Session], real_rows: list[dict[str, str]]
) -> None:
    header, rows = _as(
        EXPORTIFY_COLUMNS,
        real_rows,
        {"track_id": lambda i: f"spotify:track:{i}", "genres_all": lambda g: g.replace(";", ",")},
    )
    report = import_catalog(
        _write(tmp_path / "playlist.csv.gz", header, rows, gz=True), session_factory=session_factory
    )
    assert (report.inserted, report.rejected) == (60, 0)
    with session_factory() as s:
        track = s.scalar(select(Track).where(Track.spotify_id == real_rows[1]["track_id"]))
        assert track is not None and track.year == int(real_rows[1]["release_date"][:4])
        assert sorted(g.name for g in track.genres) == sorted(real_rows[1]["genres_all"].split(";"))


def test_reimport_is_idempotent_and_reports_changes(
    tmp_path: Path, session_factory: sessionmaker[Session], real_rows: list[dict[str, str]]
) -> None:
    header, rows = _as(KAGGLE_COLUMNS, real_rows)
    path = _write(tmp_path / "a.csv", header, rows)
    import_catalog(path, session_factory=session_factory)
    again = import_catalog(path, session_factory=session_factory)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 60)
    rows[0][header.index("popularity")] = "1"
    changed = import_catalog(
        _write(tmp_path / "b.csv", header, rows), session_factory=session_factory, source="a"
    )
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 59)
    assert _count(session_factory) == 60


def test_bad_rows_are_reported_by_line_and_the_rest_imported(
    tmp_path: Path, session_factory: sessionmaker[Session], real_rows: list[dict[str, str]]
) -> None:
    header, rows = _as(KAGGLE_COLUMNS, real_rows[:8])
    col = header.index
    rows[0][col("valence")] = "1.5"
    rows[1][col("tempo")] = "fast"
    rows[2][col("key")] = "12"
    rows[3][col("mode")] = "2"
    rows[4][col("popularity")] = "101"
    rows[5][col("track_id")] = "not-an-id"
    rows[6] = rows[6][:5]  # too few fields
    report = import_catalog(
        _write(tmp_path / "bad.csv", header, rows), session_factory=session_factory
    )
    assert report.inserted == 1 and report.rejected == 7
    reasons = {e.line: e.reason for e in report.errors}
    assert reasons[2] == "valence 1.5 is out of range 0..1"
    assert "tempo is not a number" in reasons[3]
    assert "key 12 is out of range" in reasons[4]
    assert "mode 2 is out of range" in reasons[5]
    assert "popularity 101 is out of range" in reasons[6]
    assert "not a Spotify track id" in reasons[7]
    assert reasons[8] == "expected 19 fields, got 5"
    assert _count(session_factory) == 1


def test_malformed_csv_and_bad_bytes_reject_only_their_rows(
    tmp_path: Path, session_factory: sessionmaker[Session], real_rows: list[dict[str, str]]
) -> None:
    header, rows = _as(KAGGLE_COLUMNS, real_rows[:3])
    path = _write(tmp_path / "raw.csv", header, rows)
    lines = path.read_bytes().split(b"\r\n")
    lines.insert(2, b"\xff\xfe" + lines[2][2:])  # a duplicate of row 1 with invalid UTF-8 bytes
    lines.insert(3, lines[3].replace(b",", b",\x00", 1))  # NUL: PostgreSQL text cannot hold it
    lines.insert(4, b"x," + b"y" * 200_000)  # a field over the csv module's size limit
    path.write_bytes(b"\r\n".join(lines))
    report = import_catalog(path, session_factory=session_factory)
    assert report.inserted == 3
    assert sorted(e.reason for e in report.errors) == [
        "malformed CSV: field larger than field limit (131072)",
        "row contains NUL bytes",
        "row is not valid UTF-8",
    ]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "is empty"),
        (b"title,artist\nSong,Someone\n", "no column for spotify_id"),
        (b"\x1f\x8b\x08\x00garbage", "cannot read"),
    ],
    ids=["empty", "wrong-columns", "broken-gzip"],
)
def test_unusable_files_raise_and_write_nothing(
    tmp_path: Path, session_factory: sessionmaker[Session], content: bytes, match: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(BadCatalogFile, match=match):
        import_catalog(path, session_factory=session_factory)
    assert _count(session_factory) == 0


def test_truncated_gzip_keeps_whole_batches_and_reports_the_end(
    tmp_path: Path, session_factory: sessionmaker[Session], real_rows: list[dict[str, str]]
) -> None:
    header, rows = _as(KAGGLE_COLUMNS, real_rows)
    path = _write(tmp_path / "t.csv.gz", header, rows, gz=True)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    report = import_catalog(path, session_factory=session_factory, batch_size=10)
    assert report.errors[-1].reason.startswith("file ends unexpectedly")
    assert 0 < _count(session_factory) < 60


def test_duplicate_ids_merge_genres_across_batches(
    tmp_path: Path, session_factory: sessionmaker[Session], real_rows: list[dict[str, str]]
) -> None:
    header, rows = _as(KAGGLE_COLUMNS, real_rows[:3])
    genre = header.index("track_genre")
    duplicate = list(rows[0])
    duplicate[genre] = "zydeco"
    duplicate[header.index("popularity")] = "3"  # must not overwrite the first row's value
    rows.append(duplicate)
    report = import_catalog(
        _write(tmp_path / "d.csv", header, rows), session_factory=session_factory, batch_size=2
    )
    assert (report.inserted, report.duplicates, report.updated) == (3, 1, 0)
    with session_factory() as s:
        track = s.scalar(select(Track).where(Track.spotify_id == real_rows[0]["track_id"]))
        assert track is not None
        assert sorted(g.name for g in track.genres) == sorted({real_rows[0]["genre"], "zydeco"})
        assert track.popularity == int(real_rows[0]["popularity"])


def test_interrupted_import_keeps_whole_batches_and_resumes(
    tmp_path: Path, session_factory: sessionmaker[Session], real_rows: list[dict[str, str]]
) -> None:
    header, rows = _as(KAGGLE_COLUMNS, real_rows)
    path = _write(tmp_path / "i.csv", header, rows)

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C right after the first batch committed

    with pytest.raises(KeyboardInterrupt):
        import_catalog(path, session_factory=session_factory, batch_size=25, on_progress=interrupt)
    assert _count(session_factory) == 25
    report = import_catalog(path, session_factory=session_factory, batch_size=25)
    assert (report.inserted, report.unchanged) == (35, 25)
    with session_factory() as s:
        assert s.scalar(select(func.count(func.distinct(Track.spotify_id)))) == 60


def test_search_genres_and_listener_isolation(
    tmp_path: Path, session_factory: sessionmaker[Session], real_rows: list[dict[str, str]]
) -> None:
    header, rows = _as(KAGGLE_COLUMNS, real_rows)
    import_catalog(_write(tmp_path / "s.csv", header, rows), session_factory=session_factory)
    target = real_rows[5]
    with session_factory() as s:
        word = max(target["track_name"].split(), key=len)
        found, total = repo.search_tracks(
            session=s, q=f"{word.upper()} {target['artists'].split(', ')[0]}"
        )
        assert target["track_id"] in {t.spotify_id for t in found} and total >= 1
        counts = dict(repo.genre_counts(session=s))
        assert sum(counts.values()) == 60 and s.scalar(select(func.count(Genre.id))) == len(counts)
        listener_a = repo.get_or_create_listener(str(uuid.uuid4()), session=s)
        listener_b = repo.get_or_create_listener(str(uuid.uuid4()), session=s)
        with pytest.raises(InvalidInput, match="UUID"):
            repo.get_or_create_listener("not-a-uuid", session=s)
        playlist = repo.create_playlist(
            session=s,
            listener=listener_a,
            name="mine",
            items=[{"track_id": found[0].id}],
            params={},
        )
        s.commit()
        assert repo.get_playlist(playlist.id, session=s, listener=listener_a).name == "mine"
        with pytest.raises(Exception, match="not found"):
            repo.get_playlist(playlist.id, session=s, listener=listener_b)
