"""Relay a song from a music server to the browser, Range requests included."""

from collections.abc import Iterator

from fastapi.responses import StreamingResponse

from moodtune.sources.subsonic import SubsonicClient

__all__ = ["relay_stream"]

#: Upstream headers the browser needs for seeking and caching; nothing that names the server.
_PASSED = ("content-length", "content-range", "accept-ranges", "etag", "last-modified")


def relay_stream(
    client: SubsonicClient, song_id: str, range_header: str | None
) -> StreamingResponse:
    upstream = client.open_stream(song_id, range_header)  # raises source_unavailable / _auth

    def body() -> Iterator[bytes]:
        try:
            yield from upstream.iter_bytes(1 << 16)
        finally:
            upstream.close()

    headers = {k: upstream.headers[k] for k in _PASSED if k in upstream.headers}
    headers.setdefault("accept-ranges", "bytes")
    return StreamingResponse(
        body(),
        status_code=upstream.status_code,
        media_type=upstream.headers.get("content-type", "application/octet-stream"),
        headers=headers,
    )
