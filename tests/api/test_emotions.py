"""POST /emotions and /mood-playlist with real photos, every bad input, and the privacy promise."""

import io
import os
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import MetaData, func, select

from moodtune.catalog.db import create_db_engine
from moodtune.recommend import EMOTIONS
from tests.api.conftest import assert_error

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ASTRONAUT = (FIXTURES / "astronaut.jpg").read_bytes()
COFFEE = (FIXTURES / "coffee.jpg").read_bytes()


def _post(client: TestClient, data: bytes, route: str = "/api/v1/emotions", **fields: str):  # type: ignore[no-untyped-def]
    return client.post(route, files={"image": ("photo.jpg", data, "image/jpeg")}, data=fields)


def _encode(image: Image.Image, fmt: str = "JPEG", **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _check_faces(body: dict, n_faces: int) -> None:
    assert len(body["faces"]) == n_faces
    for face in body["faces"]:
        keys = {"box", "score", "emotions", "dominant", "uncertain", "uncertain_reasons"}
        assert set(face) == keys
        assert face["uncertain"] == bool(face["uncertain_reasons"])
        assert set(face["emotions"]) == set(EMOTIONS)
        assert sum(face["emotions"].values()) == pytest.approx(1.0, abs=1e-3)
        assert face["dominant"] == max(face["emotions"], key=face["emotions"].get)


def test_photo_with_one_face(client: TestClient) -> None:
    response = _post(client, ASTRONAUT)
    assert response.status_code == 200
    body = response.json()
    assert (body["width"], body["height"]) == (512, 512)
    _check_faces(body, 1)
    x, y, w, h = body["faces"][0]["box"]
    assert 150 < x < 210 and 40 < y < 90 and 70 < w < 130  # Eileen Collins' face


def test_a_face_too_small_to_read_is_marked_uncertain(client: TestClient) -> None:
    big = _post(client, ASTRONAUT).json()
    assert not big["faces"][0]["uncertain"]
    small = Image.open(io.BytesIO(ASTRONAUT)).resize((200, 200))  # the face becomes ~35 px
    body = _post(client, _encode(small)).json()
    _check_faces(body, 1)
    assert body["faces"][0]["uncertain_reasons"] == ["small_face"]
    assert body["uncertain"] and "small_face" in body["uncertain_reasons"]


def test_several_faces_are_returned_largest_first(client: TestClient) -> None:
    astronaut = Image.open(io.BytesIO(ASTRONAUT))
    canvas = Image.new("RGB", (512 + 256, 512), "white")
    canvas.paste(astronaut, (0, 0))
    canvas.paste(astronaut.resize((256, 256)), (512, 128))
    body = _post(client, _encode(canvas)).json()
    _check_faces(body, 2)
    assert (
        body["faces"][0]["box"][2] > body["faces"][1]["box"][2]
        and body["faces"][1]["box"][0] >= 512
    )


def test_exif_rotated_photo_is_analysed_upright(client: TestClient) -> None:
    landscape = Image.open(io.BytesIO(ASTRONAUT)).crop((0, 0, 512, 384))
    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated: the viewer turns it 90° counter-clockwise back
    stored = landscape.transpose(Image.Transpose.ROTATE_270)
    body = _post(client, _encode(stored, exif=exif)).json()
    assert (body["width"], body["height"]) == (512, 384)
    _check_faces(body, 1)


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grey_and_cmyk_photos(client: TestClient, mode: str) -> None:
    _check_faces(_post(client, _encode(Image.open(io.BytesIO(ASTRONAUT)).convert(mode))).json(), 1)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (COFFEE, 422, "no_face"),
        (b"just some text, renamed photo.jpg", 415, "unsupported_media_type"),
        (ASTRONAUT[: len(ASTRONAUT) // 3], 400, "bad_image"),
        (b"", 400, "bad_image"),
        (_encode(Image.new("RGB", (1, 1)), "PNG"), 422, "no_face"),
    ],
    ids=["no-face", "text-as-jpg", "truncated-jpeg", "empty-file", "one-pixel"],
)
def test_bad_photos_get_the_design_error(
    client: TestClient, data: bytes, status: int, code: str
) -> None:
    error = assert_error(_post(client, data), status, code)
    if code == "no_face":
        assert "Face the camera" in error["message"]


def test_animated_gif_is_unsupported(client: TestClient) -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    gif = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert_error(_post(client, gif), 415, "unsupported_media_type")


def test_huge_declared_dimensions_are_refused(client: TestClient) -> None:
    from tests.unit.vision.test_images import _png_declaring

    assert_error(_post(client, _png_declaring(50_000, 50_000)), 413, "too_large")


def test_upload_over_the_byte_limit_is_refused(app_settings, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    big = b"\xff\xd8\xff" + os.urandom(app_settings.max_upload_bytes + 1)
    assert_error(_post(client, big), 413, "too_large")


def test_wrong_field_name_and_missing_body(client: TestClient) -> None:
    wrong = client.post("/api/v1/emotions", files={"photo": ("p.jpg", ASTRONAUT, "image/jpeg")})
    assert "image" in assert_error(wrong, 422, "validation_error")["message"]
    assert_error(client.post("/api/v1/emotions"), 415, "unsupported_media_type")
    assert_error(
        client.post("/api/v1/emotions", json={"image": "base64?"}), 415, "unsupported_media_type"
    )


def test_mood_playlist_blends_faces_and_ranks(client: TestClient) -> None:
    response = _post(
        client,
        ASTRONAUT,
        "/api/v1/mood-playlist",
        strategy="journey",
        n="5",
        genres="rock,jazz",
        seed="3",
        include_non_music="false",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    _check_faces(body["photo"], 1)
    assert body["mood"]["emotions"] == pytest.approx(
        body["photo"]["faces"][0]["emotions"], abs=1e-3
    )
    assert body["target"]["strategy"] == "journey" and len(body["tracks"]) == 5
    assert all({"rock", "jazz"} & set(t["genres"]) for t in body["tracks"])
    assert {"rock", "jazz"} <= {g for t in body["tracks"] for g in t["genres"]}  # both genres
    assert all("heard_mood" in t for t in body["tracks"])


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"n": "0"}, 422, "validation_error"),
        ({"strategy": "party"}, 422, "validation_error"),
        ({"genres": "polka"}, 400, "invalid_input"),
        ({"emotion": "sad"}, 422, "validation_error"),
        ({"emotions": '{"sad": 1}'}, 422, "validation_error"),
        ({"colour": "blue"}, 422, "validation_error"),
    ],
    ids=["n-0", "strategy", "unknown-genre", "emotion", "emotions", "unknown-field"],
)
def test_mood_playlist_parameter_errors(
    client: TestClient, fields: dict, status: int, code: str
) -> None:
    assert_error(_post(client, ASTRONAUT, "/api/v1/mood-playlist", **fields), status, code)


def test_emotions_take_no_field_besides_the_photo(client: TestClient) -> None:
    error = assert_error(_post(client, ASTRONAUT, strategy="calm"), 422, "validation_error")
    assert error["details"]["errors"][0]["loc"] == ["body", "strategy"]


def test_a_field_sent_twice_is_refused(client: TestClient) -> None:
    response = client.post(
        "/api/v1/mood-playlist",
        files={"image": ("a.jpg", ASTRONAUT, "image/jpeg")},
        data={"n": ["3", "30"]},
    )
    assert assert_error(response, 422, "validation_error")["details"]["errors"][0]["loc"] == [
        "body",
        "n",
    ]


def test_two_files_or_a_malformed_body_are_bad_forms(client: TestClient) -> None:
    two = [
        ("image", ("a.jpg", ASTRONAUT, "image/jpeg")),
        ("other", ("b.jpg", COFFEE, "image/jpeg")),
    ]
    for route in ("/api/v1/emotions", "/api/v1/mood-playlist"):
        assert_error(client.post(route, files=two), 400, "bad_form")
        broken = client.post(
            route,
            content=b"--xyz\r\nbroken header line\r\n\r\nx\r\n--xyz--\r\n",
            headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        )
        assert_error(broken, 400, "bad_form")


def test_mood_playlist_without_a_face(client: TestClient) -> None:
    assert_error(_post(client, COFFEE, "/api/v1/mood-playlist"), 422, "no_face")


def _files_under(paths: list[Path]) -> set[str]:
    """Files below ``paths``, leaving out the test PostgreSQL servers' own folders (the
    database writes its files whenever it likes; its rows are checked separately)."""
    found = set()
    for root in paths:
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith("moodtune-pg-")]
            found.update(os.path.join(dirpath, f) for f in files)
    return found


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND
_opened_for_writing: list[str] = []
_recording = threading.Event()


def _audit(event: str, args: tuple) -> None:  # type: ignore[type-arg]
    """Every file opened for writing while recording, in any thread (including O_TMPFILE files,
    which never appear in a directory listing)."""
    if event == "open" and _recording.is_set():
        path, mode, flags = args
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        ):
            _opened_for_writing.append(str(path))


sys.addaudithook(_audit)  # audit hooks cannot be removed; idle unless _recording is set


def test_photos_never_touch_disk_logs_or_the_database(
    app_settings, catalog_db: str, client: TestClient, caplog
) -> None:  # type: ignore[no-untyped-def]
    """A 3 MB upload (over Starlette's 1 MB spool threshold): no file is opened for writing, no
    file appears in the temp or data folders, no row changes, no log line carries the bytes."""
    photo = Image.open(io.BytesIO(ASTRONAUT)).resize((1400, 1400))
    data = _encode(photo, "PNG")
    assert 1_500_000 < len(data) < app_settings.max_upload_bytes
    watched = [Path(tempfile.gettempdir()), Path(app_settings.data_dir)]
    engine = create_db_engine(catalog_db)
    meta = MetaData()
    meta.reflect(engine)

    def row_counts() -> dict[str, int]:
        with engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in meta.sorted_tables
            }

    before_files, before_rows = _files_under(watched), row_counts()
    _opened_for_writing.clear()
    _recording.set()
    try:
        with caplog.at_level("DEBUG"):
            response = _post(client, data)
    finally:
        _recording.clear()
    assert response.status_code == 200
    assert _opened_for_writing == [], (
        f"files opened for writing during the request: {_opened_for_writing}"
    )
    assert _files_under(watched) == before_files
    assert row_counts() == before_rows
    marker = data[1000:1032]
    assert all(marker not in r.getMessage().encode("latin-1", "replace") for r in caplog.records)
    engine.dispose()
