"""Tags and cover art of an audio file through mutagen, which reads every common container.

Broken or missing tags are not an error: a library file with no tags is still music, so it gets
its file name as title. Cover art comes from the embedded front picture, else from a
``cover.jpg``/``folder.jpg``-style file beside it.
"""

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["AUDIO_MIME", "Tags", "read_tags"]

#: Extension -> Content-Type served for streaming; also the set of files a library scan picks.
AUDIO_MIME: dict[str, str] = {
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
}
_FOLDER_COVERS = ("cover", "folder", "front", "album")
_IMAGE_MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
_FRONT_COVER = 3  # ID3/FLAC picture type "Cover (front)"


@dataclass(frozen=True)
class Tags:
    title: str
    artists: list[str] = field(default_factory=list)
    album: str | None = None
    year: int | None = None
    genres: list[str] = field(default_factory=list)
    cover: bytes | None = None
    cover_mime: str | None = None


def _first_year(value: str | None) -> int | None:
    match = re.search(r"\b(1[0-9]{3}|20[0-9]{2})\b", value or "")
    return int(match.group(1)) if match else None


def _split(values: list[str]) -> list[str]:
    """Multi-valued tags come as lists or as one string joined by ';' or '/'."""
    out: list[str] = []
    for value in values:
        out += [part.strip() for part in re.split(r"\s*[;/]\s*|\x00", value) if part.strip()]
    return list(dict.fromkeys(out))


def _embedded_cover(audio: Any) -> tuple[bytes, str] | None:
    from mutagen.flac import Picture

    pictures: list[tuple[int, bytes, str]] = []
    tags = getattr(audio, "tags", None)
    for picture in getattr(audio, "pictures", []) or []:  # FLAC
        pictures.append((picture.type, picture.data, picture.mime))
    if tags is not None and hasattr(tags, "getall"):  # ID3 (mp3, aiff, wav)
        pictures += [(f.type, f.data, f.mime) for f in tags.getall("APIC")]
    if tags is not None and hasattr(tags, "get"):
        for encoded in tags.get("metadata_block_picture", []) or []:  # Ogg Vorbis/Opus
            try:
                picture = Picture(base64.b64decode(encoded))  # type: ignore[no-untyped-call]
            except Exception:  # a damaged picture block: mutagen raises several error types
                continue
            pictures.append((picture.type, picture.data, picture.mime))
        for cover in tags.get("covr", []) or []:  # MP4
            mime = "image/png" if getattr(cover, "imageformat", 0) == 14 else "image/jpeg"
            pictures.append((_FRONT_COVER, bytes(cover), mime))
    if not pictures:
        return None
    pictures.sort(key=lambda p: p[0] != _FRONT_COVER)
    _, data, mime = pictures[0]
    return (bytes(data), mime or "image/jpeg") if data else None


def _folder_cover(path: Path) -> tuple[bytes, str] | None:
    try:
        siblings = {p.stem.casefold(): p for p in path.parent.iterdir() if p.suffix in _IMAGE_MIME}
    except OSError:
        return None
    for name in _FOLDER_COVERS:
        if name in siblings:
            try:
                return siblings[name].read_bytes(), _IMAGE_MIME[siblings[name].suffix]
            except OSError:
                return None
    return None


def read_tags(path: Path) -> Tags:
    """Title, artists, album, year, genres and cover; the file name stands in for a title."""
    import mutagen

    easy: dict[str, list[str]] = {}
    cover: tuple[bytes, str] | None = None
    try:
        full = mutagen.File(str(path))
        cover = _embedded_cover(full) if full is not None else None
        tagged = mutagen.File(str(path), easy=True)
        if tagged is not None and tagged.tags is not None:
            easy = {k.lower(): [str(v) for v in vs] for k, vs in tagged.tags.items()}
    except (mutagen.MutagenError, OSError, ValueError, KeyError, IndexError):
        pass  # unreadable tags: fall back to the file name; the decoder judges the audio
    cover = cover or _folder_cover(path)
    title = next(iter(easy.get("title", [])), "").strip() or path.stem
    return Tags(
        title=title,
        artists=_split(easy.get("artist", []) or easy.get("albumartist", [])),
        album=next(iter(easy.get("album", [])), None),
        year=_first_year(next(iter(easy.get("date", []) or easy.get("year", [])), None)),
        genres=[g.casefold() for g in _split(easy.get("genre", []))],
        cover=cover[0] if cover else None,
        cover_mime=cover[1] if cover else None,
    )
