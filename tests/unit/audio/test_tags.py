import base64
import io
from pathlib import Path

import mutagen
import numpy as np
import soundfile as sf
from mutagen.flac import FLAC, Picture
from mutagen.oggvorbis import OggVorbis
from PIL import Image

from moodtune.audio.tags import read_tags

DEMO = Path(__file__).resolve().parents[3] / "demo" / "music"


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _picture(data: bytes) -> Picture:
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "image/png", data
    return picture


def _tone(path: Path, **kwargs: object) -> Path:
    sf.write(str(path), 0.1 * np.sin(np.arange(22050) / 5.0), 22050, **kwargs)
    return path


def test_real_tags_of_the_demo_library() -> None:
    tags = read_tags(DEMO / "wesnoth_1.ogg")
    assert tags.title == "Loyalists" and tags.artists == ["Joseph G. Toscano (Zhaytee)"]
    assert tags.album == "The Battle for Wesnoth OST" and tags.year == 2004
    assert tags.genres == ["romantic classical"] and tags.cover is None


def test_embedded_flac_cover_and_multi_valued_tags(tmp_path: Path) -> None:
    path = _tone(tmp_path / "a.flac")
    audio = FLAC(str(path))
    audio["title"], audio["artist"], audio["genre"] = "Song", ["A", "B"], "Rock; Pop"
    audio["date"] = "2019-05-01"
    audio.add_picture(_picture(_png((255, 0, 0))))
    audio.save()
    tags = read_tags(path)
    assert (tags.title, tags.artists, tags.genres, tags.year) == (
        "Song",
        ["A", "B"],
        ["rock", "pop"],
        2019,
    )
    assert tags.cover_mime == "image/png" and Image.open(io.BytesIO(tags.cover or b"")).size == (
        8,
        8,
    )


def test_ogg_cover_block_and_folder_cover(tmp_path: Path) -> None:
    path = _tone(tmp_path / "b.ogg", format="OGG", subtype="VORBIS")
    audio = OggVorbis(str(path))
    audio["metadata_block_picture"] = [
        base64.b64encode(_picture(_png((0, 255, 0))).write()).decode()
    ]
    audio.save()
    assert read_tags(path).cover_mime == "image/png"

    plain = _tone(tmp_path / "album" / "c.wav") if (tmp_path / "album").mkdir() is None else None
    assert plain is not None
    (tmp_path / "album" / "Cover.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    tags = read_tags(plain)
    assert tags.title == "c" and tags.cover_mime == "image/jpeg"


def test_damaged_tags_fall_back_to_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp3"
    path.write_bytes(b"ID3\x04\x00\x00\xff\xff\xff\xff garbage" * 10)
    tags = read_tags(path)
    assert tags.title == "noise" and tags.artists == [] and tags.cover is None
    assert mutagen.version  # the library is really in use
