"""Object storage for copied audio and cover art: a local directory by default, S3-compatible
optionally (``MOODTUNE_STORAGE_URL=s3://bucket/prefix``, credentials and endpoint from the
usual AWS environment variables; ``MOODTUNE_S3_PUBLIC_URL`` where browsers reach the S3 server
by another address than moodtune does, as in the compose stack).

Keys are relative, slash-separated names such as ``covers/ab/abcdef….jpg``. Writes are atomic
(a reader never sees half a file), so an import killed mid-copy leaves nothing behind that a
row points to.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse, urlsplit

from moodtune.errors import InvalidInput, NotFound

__all__ = ["LocalStorage", "S3Storage", "Storage", "open_storage"]


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("", "..", ".") for p in parts):
        raise InvalidInput(f"bad storage key {key!r}", key=key)
    return key


class Storage(Protocol):
    def prepare(self) -> None:
        """Create the folder or bucket if it is missing (``moodtune init``)."""
        ...

    def put(self, key: str, data: bytes | Path) -> None:
        """Store bytes or a file's content under ``key`` (replacing any old object)."""
        ...

    def read(self, key: str) -> bytes: ...

    def download(self, key: str, target: Path) -> None:
        """Write the object to the file ``target`` without holding it in memory."""
        ...

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix`` (a folder-like name ending in ``/``)."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def local_path(self, key: str) -> Path | None:
        """A file the server can stream with Range support, or None (remote store)."""
        ...

    def url(self, key: str, *, expires_s: int = 3600) -> str | None:
        """A URL a browser can fetch the object from directly (S3: presigned), or None."""
        ...

    def origin(self) -> str | None:
        """The scheme://host[:port] of those URLs, for the page's Content-Security-Policy."""
        ...


class LocalStorage:
    """Objects as files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def put(self, key: str, data: bytes | Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as handle:
                if isinstance(data, Path):
                    with data.open("rb") as source:
                        shutil.copyfileobj(source, handle)
                else:
                    handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no stored object {key!r}", key=key) from None

    def download(self, key: str, target: Path) -> None:
        try:
            shutil.copyfile(self._path(key), target)
        except FileNotFoundError:
            raise NotFound(f"no stored object {key!r}", key=key) from None

    def keys(self, prefix: str) -> Iterator[str]:
        folder = self.root / prefix
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not path.name.startswith(".part-"):
                    yield path.relative_to(self.root).as_posix()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def url(self, key: str, *, expires_s: int = 3600) -> str | None:
        return None

    def origin(self) -> str | None:
        return None


class S3Storage:
    """Objects in an S3-compatible bucket under ``prefix`` (AWS, MinIO, Ceph, Garage …)."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        if client is None:
            client = _s3_client(os.environ.get("AWS_ENDPOINT_URL"))
        public = os.environ.get("MOODTUNE_S3_PUBLIC_URL")
        #: signs the URLs browsers fetch: the host is part of the signature, so a client of its
        #: own for the public address (signing sends no request)
        self.signer = _s3_client(public) if public else client
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    def prepare(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise
            self.client.create_bucket(Bucket=self.bucket)

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes | Path) -> None:
        """A file goes up in parts (boto3's multipart upload), so its size does not matter."""
        if isinstance(data, Path):
            self.client.upload_file(str(data), self.bucket, self._key(key))
        else:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def read(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            raise NotFound(f"no stored object {key!r}", key=key) from None
        return bytes(response["Body"].read())

    def download(self, key: str, target: Path) -> None:
        try:
            self.client.download_file(self.bucket, self._key(key), str(target))
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
                raise
            raise NotFound(f"no stored object {key!r}", key=key) from None

    def keys(self, prefix: str) -> Iterator[str]:
        skip = len(self.prefix) + 1 if self.prefix else 0
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix.rstrip("/")) + "/"
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield str(item["Key"])[skip:]

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError:
            return False
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def local_path(self, key: str) -> Path | None:
        return None

    def url(self, key: str, *, expires_s: int = 3600) -> str | None:
        """Presigned GET: the browser streams (with Range) straight from the bucket."""
        return str(
            self.signer.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._key(key)},
                ExpiresIn=expires_s,
            )
        )

    def origin(self) -> str | None:
        """Signing is local (no request), and the signed URL shows the host the client uses:
        the endpoint's, or AWS's virtual-host name for the bucket."""
        parts = urlsplit(str(self.url("origin-probe")))
        return f"{parts.scheme}://{parts.netloc}"


def _s3_client(endpoint_url: str | None) -> Any:
    try:
        import boto3
    except ImportError:
        raise InvalidInput("s3:// storage needs boto3: pip install 'moodtune[s3]'") from None
    # a session of its own: boto3's default one keeps the first credentials it found
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url or None)


def open_storage(url: str) -> Storage:
    """``/path`` or ``file:///path`` -> LocalStorage; ``s3://bucket/prefix`` -> S3Storage."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise InvalidInput(f"storage URL {url!r} names no bucket")
        return S3Storage(parsed.netloc, parsed.path)
    if parsed.scheme == "file":
        return LocalStorage(Path(parsed.path))
    if parsed.scheme in ("",) or len(parsed.scheme) == 1:  # plain path (or a Windows drive)
        return LocalStorage(Path(url).expanduser())
    raise InvalidInput(f"unsupported storage URL {url!r}: use a path, file:// or s3://")
