from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from moodtune.errors import InvalidInput, NotFound
from moodtune.storage import LocalStorage, S3Storage, open_storage


def test_local_storage_round_trip(tmp_path: Path) -> None:
    store = open_storage(str(tmp_path / "objects"))
    assert isinstance(store, LocalStorage)
    source = tmp_path / "song.ogg"
    source.write_bytes(b"OggS fake")
    store.put("audio/ab/abc.ogg", source)
    store.put("covers/ab/abc.png", b"\x89PNG")
    assert store.exists("audio/ab/abc.ogg") and store.read("covers/ab/abc.png") == b"\x89PNG"
    assert store.local_path("audio/ab/abc.ogg") == tmp_path / "objects" / "audio/ab/abc.ogg"
    assert store.url("audio/ab/abc.ogg") is None
    assert not list((tmp_path / "objects").rglob(".part-*"))  # no temp files left behind
    store.delete("audio/ab/abc.ogg")
    assert not store.exists("audio/ab/abc.ogg") and store.local_path("audio/ab/abc.ogg") is None
    with pytest.raises(NotFound):
        store.read("audio/ab/abc.ogg")


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "a/../../x", "a\\b", "./a"])
def test_keys_cannot_escape_the_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(InvalidInput):
        LocalStorage(tmp_path).put(key, b"x")


def test_storage_urls(tmp_path: Path) -> None:
    assert isinstance(open_storage(f"file://{tmp_path}"), LocalStorage)
    with pytest.raises(InvalidInput, match="unsupported"):
        open_storage("ftp://host/x")
    with pytest.raises(InvalidInput, match="bucket"):
        open_storage("s3:///prefix")


def test_s3_presigned_urls_are_signed_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    """URL signing needs no network; reads and writes need a real bucket and are not run here."""
    boto3 = pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url="http://minio.local:9000")
    store = open_storage("s3://music/moodtune")
    assert isinstance(store, S3Storage) and store.prefix == "moodtune"
    url = urlparse(
        S3Storage("music", "moodtune", client=client).url("audio/ab/abc.ogg", expires_s=60) or ""
    )
    assert url.netloc == "minio.local:9000" and url.path == "/music/moodtune/audio/ab/abc.ogg"
    query = parse_qs(url.query)
    assert query["AWSAccessKeyId"] == ["AKIDEXAMPLE"] and query["Signature"][0]


def test_presigned_urls_name_the_public_address_where_one_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In the compose stack moodtune reaches S3 as ``s3:8333`` and browsers as localhost:8333;
    the host is signed, so the URL must be made for the address the browser uses."""
    pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://s3:8333")
    monkeypatch.setenv("MOODTUNE_S3_PUBLIC_URL", "https://media.example.org")
    store = open_storage("s3://music")
    assert isinstance(store, S3Storage)
    assert store.client.meta.endpoint_url == "http://s3:8333"
    assert urlparse(store.url("audio/a.ogg") or "").netloc == "media.example.org"
    assert store.origin() == "https://media.example.org"
