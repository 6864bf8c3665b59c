"""Import track catalogs in the Spotify audio-features schema (Kaggle and Exportify columns).

Rows are validated one by one: a bad row is reported with its line number and reason and the
rest goes on. Good rows are written in batches, each batch one transaction, so an interrupted
import leaves whole batches only and re-running it is idempotent (upsert by Spotify id).
"""

import csv
import gzip
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session, sessionmaker

from moodtune.catalog import repo
from moodtune.catalog.db import session_scope
from moodtune.errors import BadCatalogFile
from moodtune.nonmusic import catalog_reason

__all__ = ["COLUMN_ALIASES", "ImportReport", "RowError", "import_catalog"]

#: Canonical field -> accepted header names after folding (lower case, non-alphanumerics -> "_").
#: Kaggle "Spotify Tracks Dataset" (track_id, track_genre, artists with ";"), TidyTuesday
#: spotify_songs (track_artist, playlist_genre), Exportify old (Spotify ID, Artist Name(s),
#: Genres) and new (Track URI, Track Duration (ms), Artist Genres), and moodtune's bundled file.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "spotify_id": ("track_id", "spotify_id", "track_uri", "uri", "id"),
    "title": ("track_name", "name", "title"),
    "artists": (
        "artists",
        "artist_name_s",
        "artist_names",
        "track_artist",
        "artist",
        "artist_name",
    ),
    "album": ("album_name", "album", "track_album_name"),
    "release_date": ("release_date", "album_release_date", "track_album_release_date"),
    "year": ("year",),
    "popularity": ("popularity", "track_popularity"),
    "genres": ("genres_all", "genres", "artist_genres", "track_genre", "playlist_genre", "genre"),
    "explicit": ("explicit",),
    "duration_ms": ("duration_ms", "track_duration_ms"),
    "danceability": ("danceability",),
    "energy": ("energy",),
    "valence": ("valence",),
    "acousticness": ("acousticness",),
    "instrumentalness": ("instrumentalness",),
    "speechiness": ("speechiness",),
    "liveness": ("liveness",),
    "tempo": ("tempo",),
    "loudness": ("loudness",),
    "key": ("key",),
    "mode": ("mode",),
    "time_signature": ("time_signature",),
}
REQUIRED_FIELDS = ("spotify_id", "title")
UNIT_FEATURES = ("danceability", "energy", "valence", "acousticness", "instrumentalness",
                 "speechiness", "liveness")  # fmt: skip
#: Inclusive ranges; the issue's for tempo, key, mode and popularity, Spotify's docs for the rest.
RANGES: dict[str, tuple[float, float]] = {
    **dict.fromkeys(UNIT_FEATURES, (0.0, 1.0)),
    "tempo": (0.0, 300.0),
    "loudness": (-70.0, 10.0),
    "key": (-1, 11),
    "mode": (0, 1),
    "popularity": (0, 100),
    "time_signature": (0, 12),
    "duration_ms": (1, 24 * 3600 * 1000),
    "year": (1000, 2100),
}
INT_FIELDS = ("key", "mode", "popularity", "time_signature", "duration_ms", "year")
_SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")
_SPOTIFY_REF = re.compile(r"(?:spotify:track:|open\.spotify\.com/track/)([0-9A-Za-z]{22})")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_TRUE, _FALSE = {"true", "1", "yes", "t", "y"}, {"false", "0", "no", "f", "n"}
MAX_REPORTED_ERRORS = 1000

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str
    spotify_id: str | None = None


@dataclass
class ImportReport:
    """What an import did; ``errors`` keeps the first ``MAX_REPORTED_ERRORS`` rejected rows."""

    file: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: int = 0
    without_features: int = 0
    #: Rows imported but flagged as not music, by reason ("noise recording", "spoken word", …).
    non_music: dict[str, int] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)

    def flag(self, reason: str) -> None:
        kind = reason.split(" (")[0]
        self.non_music[kind] = self.non_music.get(kind, 0) + 1

    def reject(self, line: int, reason: str, spotify_id: str | None = None) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line=line, reason=reason, spotify_id=spotify_id))

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "without_features": self.without_features,
            "non_music": sum(self.non_music.values()),
            "non_music_by_reason": dict(sorted(self.non_music.items())),
            "errors": [asdict(e) for e in self.errors],
            "errors_truncated": self.rejected > len(self.errors),
        }


class _RowInvalid(ValueError):
    pass


def _fold(header: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", header.strip().casefold()).strip("_")


def map_columns(header: list[str]) -> dict[str, int]:
    """Canonical field -> column index; raises BadCatalogFile when a required field is missing."""
    folded = [_fold(h) for h in header]
    mapping: dict[str, int] = {}
    for canonical, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in folded:
                mapping[canonical] = folded.index(alias)
                break
    missing = [f for f in REQUIRED_FIELDS if f not in mapping]
    if missing:
        raise BadCatalogFile(
            f"catalog file has no column for {', '.join(missing)}; "
            "expected the Spotify audio-features schema (Kaggle or Exportify column names)",
            missing={f: list(COLUMN_ALIASES[f]) for f in missing},
            found=header,
        )
    return mapping


def _number(name: str, text: str) -> float | int | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise _RowInvalid(f"{name} is not a number: {text!r}") from None
    if value != value:  # NaN
        return None
    low, high = RANGES[name]
    if not low <= value <= high:
        raise _RowInvalid(f"{name} {text} is out of range {low:g}..{high:g}")
    if name in INT_FIELDS:
        if not value.is_integer():
            raise _RowInvalid(f"{name} must be a whole number, got {text!r}")
        return int(value)
    return value


def _spotify_id(text: str) -> str:
    match = _SPOTIFY_REF.search(text)
    sid = match.group(1) if match else text.strip()
    if not _SPOTIFY_ID.match(sid):
        raise _RowInvalid(f"not a Spotify track id: {text!r}")
    return sid


def _split_list(text: str) -> list[str]:
    """``a;b`` (Kaggle) or ``a, b`` (Exportify, the bundled file): split on ';' when present."""
    parts = text.split(";") if ";" in text else text.split(",")
    return [p.strip() for p in parts if p.strip()]


def parse_row(fields: list[str], columns: dict[str, int], source: str) -> repo.TrackRow:
    """Validate one CSV row into a TrackRow, or raise _RowInvalid with the reason."""
    raw = {name: fields[i].strip() for name, i in columns.items()}
    if any("\ufffd" in v for v in raw.values()):
        raise _RowInvalid("row is not valid UTF-8")
    if any("\x00" in v for v in raw.values()):  # PostgreSQL text cannot hold NUL
        raise _RowInvalid("row contains NUL bytes")
    sid = _spotify_id(raw["spotify_id"])
    title = raw["title"]
    if not title:
        raise _RowInvalid("track name is empty")
    artists = _split_list(raw.get("artists", ""))
    values: dict[str, Any] = {name: _number(name, raw.get(name, "")) for name in RANGES}
    explicit = raw.get("explicit", "").casefold()
    if explicit and explicit not in _TRUE | _FALSE:
        raise _RowInvalid(f"explicit must be true/false, got {raw['explicit']!r}")
    release = raw.get("release_date", "")[:10]
    if release and not _DATE.match(release):
        raise _RowInvalid(f"release_date must be YYYY, YYYY-MM or YYYY-MM-DD, got {release!r}")
    if values["year"] is None and release:
        values["year"] = int(release[:4])
    album = raw.get("album") or None
    values.update(
        **repo.described(title, artists, album, values["year"]),
        source=source,
        release_date=release or None,
        explicit=None if not explicit else explicit in _TRUE,
        estimators={
            f: "spotify"
            for f in (*UNIT_FEATURES, "tempo", "loudness", "key", "mode")
            if values[f] is not None
        }
        or None,
    )
    genres = sorted({g.casefold()[:100] for g in _split_list(raw.get("genres", ""))})
    values["non_music"] = catalog_reason(
        title=title,
        artists=artists,
        album=album,
        genres=genres,
        tempo=values["tempo"],
        speechiness=values["speechiness"],
    )
    return repo.TrackRow(spotify_id=sid, values=values, genres=genres)


def _open_text(binary: IO[bytes]) -> IO[str]:
    """Text over a plain or gzip stream (sniffed by magic bytes, not the file name)."""
    magic = binary.read(2)
    binary.seek(0)
    stream: IO[bytes] = gzip.GzipFile(fileobj=binary) if magic == b"\x1f\x8b" else binary  # type: ignore[assignment]
    # errors="replace": a bad byte rejects its row (see parse_row) instead of ending the import.
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")


def _rows(text: IO[str], report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) per CSV record; malformed records are reported, not raised."""
    reader = csv.reader(text)
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.rows += 1
            report.reject(line, f"malformed CSV: {exc}")
            continue
        yield line, fields


def import_catalog(
    path: Path,
    *,
    session_factory: sessionmaker[Session],
    source: str | None = None,
    batch_size: int = 2000,
    on_progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import a CSV or CSV.gz catalog file; see the module docstring for the guarantees.

    Raises BadCatalogFile (nothing written) when the file is empty, not text, or lacks the
    required columns. A Spotify id seen twice in one file keeps the first row's values and the
    union of both rows' genres (the Kaggle dataset lists a track once per genre).
    """
    report = ImportReport(file=path.name)
    source = source or _source_name(path)
    total = path.stat().st_size
    with path.open("rb") as binary:
        try:
            text = _open_text(binary)
            records = _rows(text, report)
            first = next(records, None)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise BadCatalogFile(f"cannot read {path.name}: {exc}") from exc
        if first is None:
            raise BadCatalogFile(f"{path.name} is empty: expected a CSV header row")
        header = first[1]
        columns = map_columns(header)
        seen: set[str] = set()
        batch: dict[str, repo.TrackRow] = {}
        try:
            for line, fields in records:
                report.rows += 1
                if len(fields) != len(header):
                    report.reject(line, f"expected {len(header)} fields, got {len(fields)}")
                    continue
                try:
                    row = parse_row(fields, columns, source)
                except _RowInvalid as exc:
                    report.reject(line, str(exc), fields[columns["spotify_id"]] or None)
                    continue
                if row.spotify_id in batch or row.spotify_id in seen:
                    report.duplicates += 1
                    if row.spotify_id in batch:
                        batch[row.spotify_id].genres = sorted(
                            set(batch[row.spotify_id].genres) | set(row.genres)
                        )
                        continue
                else:
                    if row.values["valence"] is None or row.values["energy"] is None:
                        report.without_features += 1
                    if row.values["non_music"]:
                        report.flag(row.values["non_music"])
                batch[row.spotify_id] = row
                if len(batch) >= batch_size:
                    _flush(batch, seen, report, session_factory)
                    if on_progress:
                        on_progress(binary.tell(), total)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            report.reject(report.rows + 1, f"file ends unexpectedly: {exc}")
        _flush(batch, seen, report, session_factory)
        if on_progress:
            on_progress(total, total)
    return report


def _flush(
    batch: dict[str, repo.TrackRow],
    seen: set[str],
    report: ImportReport,
    session_factory: sessionmaker[Session],
) -> None:
    """Write one batch in its own transaction; rows seen in earlier batches merge genres only."""
    if not batch:
        return
    merge = frozenset(sid for sid in batch if sid in seen)
    with session_scope(session_factory) as session:
        counts = repo.upsert_tracks(list(batch.values()), session=session, merge_genres=merge)
    report.inserted += counts.inserted
    report.updated += counts.updated
    report.unchanged += counts.unchanged
    seen.update(batch)
    batch.clear()


def _source_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv"):
        name = name.removesuffix(suffix)
    return name[:40] or "catalog"
