"""A thin client for the Subsonic / OpenSubsonic REST API (Navidrome, Airsonic, Gonic, Supysonic…).

Authentication follows the protocol: token + salt (``t = md5(password + salt)``, API 1.13+) and,
for servers that do not take tokens (Supysonic, LDAP users), the hex-encoded password
(``p=enc:…``). Every failure is one of two errors: the server cannot be reached or answers
like a broken server (:class:`SourceUnavailable`), or it refuses the credentials
(:class:`SourceAuth`).
"""

import hashlib
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import httpx2 as httpx

from moodtune.errors import SourceAuth, SourceUnavailable

__all__ = ["API_VERSION", "CLIENT_NAME", "Song", "SubsonicClient"]

#: The version we speak; 1.13 added token authentication.
API_VERSION = "1.16.1"
CLIENT_NAME = "moodtune"
_AUTH_ERRORS = {40, 41, 42, 43, 44}  # wrong credentials / token auth not supported / …
_TOKEN_UNSUPPORTED = {10, 41, 42}  # missing parameter (no token support) or refused tokens
_PAGE = 500


@dataclass(frozen=True)
class Song:
    """One song as the server describes it; ``rev`` changes when anything we store changes."""

    id: str
    title: str
    artists: list[str]
    album: str | None
    year: int | None
    genres: list[str]
    duration_s: float | None
    cover_id: str | None
    size: int | None
    suffix: str | None
    content_type: str | None

    @property
    def rev(self) -> str:
        fields = (self.title, self.artists, self.album, self.year, self.genres,
                  self.duration_s, self.cover_id, self.size, self.suffix)  # fmt: skip
        return hashlib.sha256(repr(fields).encode()).hexdigest()[:32]

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "Song":
        artists = [a["name"] for a in doc.get("artists") or [] if a.get("name")]  # OpenSubsonic
        if not artists and doc.get("artist") and doc["artist"] != "[unknown]":
            artists = [str(doc["artist"])]
        genres = [g["name"] for g in doc.get("genres") or [] if g.get("name")]
        if not genres and doc.get("genre"):
            genres = [str(doc["genre"])]
        album = doc.get("album")
        return cls(
            id=str(doc["id"]),
            title=str(doc.get("title") or doc["id"]),
            artists=artists,
            album=None if album in (None, "[non-album tracks]") else str(album),
            year=int(doc["year"]) if doc.get("year") else None,
            genres=genres,
            duration_s=float(doc["duration"]) if doc.get("duration") else None,
            cover_id=str(doc["coverArt"]) if doc.get("coverArt") else None,
            size=int(doc["size"]) if doc.get("size") else None,
            suffix=str(doc["suffix"]).lower() if doc.get("suffix") else None,
            content_type=doc.get("contentType"),
        )


class SubsonicClient:
    """One server, one user. Thread-safe (httpx clients are); close it, or use ``with``."""

    def __init__(
        self,
        url: str,
        user: str,
        password: str,
        *,
        timeout_s: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.user = user
        self._password = password
        self._token_auth = True  # until the server says it does not take tokens
        self._http = httpx.Client(timeout=timeout_s, transport=transport, follow_redirects=True)

    def __enter__(self) -> "SubsonicClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:  # never the password
        return f"SubsonicClient({self.url!r}, user={self.user!r})"

    # ---- protocol ----------------------------------------------------------------------
    def auth_params(self) -> dict[str, str]:
        """Query parameters that authenticate one request (a new salt each time)."""
        common = {"u": self.user, "v": API_VERSION, "c": CLIENT_NAME, "f": "json"}
        if self._token_auth:
            salt = secrets.token_hex(8)
            token = hashlib.md5((self._password + salt).encode()).hexdigest()  # noqa: S324 (protocol)
            return {**common, "t": token, "s": salt}
        return {**common, "p": "enc:" + self._password.encode().hex()}

    def endpoint(self, method: str) -> str:
        return f"{self.url}/rest/{method}.view"

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        for _ in range(2):  # the second try falls back to password auth
            try:
                response = self._http.get(
                    self.endpoint(method), params={**self.auth_params(), **params}
                )
            except httpx.HTTPError as exc:
                raise SourceUnavailable(
                    f"{self.url} cannot be reached: {exc}", url=self.url
                ) from exc
            body = self._json(response)
            if body.get("status") == "ok":
                return body
            code = int((body.get("error") or {}).get("code", 0))
            if self._token_auth and code in _TOKEN_UNSUPPORTED:
                self._token_auth = False
                continue
            message = (body.get("error") or {}).get("message", "unknown error")
            if code in _AUTH_ERRORS:
                raise SourceAuth(f"{self.url} refused user {self.user!r}: {message}", url=self.url)
            raise SourceUnavailable(f"{self.url}: {method} failed: {message}", url=self.url)
        raise SourceAuth(f"{self.url} refused both token and password auth", url=self.url)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code in (401, 403):
            raise SourceAuth(f"{self.url} refused user {self.user!r}", url=self.url)
        if response.status_code >= 400:
            raise SourceUnavailable(
                f"{self.url} answered HTTP {response.status_code}", url=self.url
            )
        try:
            return response.json()["subsonic-response"]  # type: ignore[no-any-return]
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceUnavailable(f"{self.url} is not a Subsonic server", url=self.url) from exc

    # ---- what moodtune uses ------------------------------------------------------------
    def ping(self) -> dict[str, Any]:
        """Check the server and the credentials: ``{"version", "type"?}``."""
        body = self._call("ping")
        return {k: body[k] for k in ("version", "type", "serverVersion") if k in body}

    def songs(self, page: int = _PAGE) -> Iterator[Song]:
        """Every song, by paging an empty ``search3`` (what Subsonic clients use to sync)."""
        offset = 0
        while True:
            body = self._call(
                "search3", query="", songCount=page, songOffset=offset, artistCount=0, albumCount=0
            )
            found = (body.get("searchResult3") or {}).get("song") or []
            for doc in found:
                if not doc.get("isVideo"):
                    yield Song.from_json(doc)
            if len(found) < page:
                return
            offset += page

    def open_stream(self, song_id: str, range_header: str | None = None) -> httpx.Response:
        """The original file as an open streaming response (status 200 or 206 with the
        server's Content-Range); the caller reads and closes it. Errors are raised here."""
        headers = {"Range": range_header} if range_header else {}
        for _ in range(2):  # the second try falls back to password auth
            params = {**self.auth_params(), "id": song_id, "format": "raw"}
            request = self._http.build_request(
                "GET", self.endpoint("stream"), params=params, headers=headers
            )
            try:
                response = self._http.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise SourceUnavailable(
                    f"{self.url} cannot be reached: {exc}", url=self.url
                ) from exc
            kind = response.headers.get("content-type", "")
            if response.status_code < 400 and not kind.startswith(("application/json", "text/xml")):
                return response
            response.read()
            response.close()
            body = self._json(response)  # HTTP errors raise here
            code = int((body.get("error") or {}).get("code", 0))
            if self._token_auth and code in _TOKEN_UNSUPPORTED:
                self._token_auth = False
                continue
            message = (body.get("error") or {}).get("message", "no audio")
            if code in _AUTH_ERRORS:
                raise SourceAuth(f"{self.url} refused user {self.user!r}: {message}", url=self.url)
            raise SourceUnavailable(
                f"{self.url}: stream of {song_id} failed: {message}", url=self.url
            )
        raise SourceAuth(f"{self.url} refused both token and password auth", url=self.url)

    def download(self, song_id: str, into: BinaryIO) -> int:
        """The original file (``format=raw``), written to ``into``; returns the byte count."""
        response = self.open_stream(song_id)
        try:
            size = 0
            for chunk in response.iter_bytes(1 << 16):
                into.write(chunk)
                size += len(chunk)
            return size
        except httpx.HTTPError as exc:
            raise SourceUnavailable(f"{self.url} broke off: {exc}", url=self.url) from exc
        finally:
            response.close()

    def cover(self, cover_id: str, size: int = 600) -> tuple[bytes, str] | None:
        """Cover art bytes and type, or None when the server has none."""
        params: dict[str, Any] = {**self.auth_params(), "id": cover_id, "size": size}
        try:
            response = self._http.get(self.endpoint("getCoverArt"), params=params)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(f"{self.url} cannot be reached: {exc}", url=self.url) from exc
        kind = response.headers.get("content-type", "")
        if response.status_code != 200 or not kind.startswith("image/"):
            return None
        return response.content, kind.split(";")[0]

    def playlists(self) -> list[dict[str, Any]]:
        body = self._call("getPlaylists")
        return list((body.get("playlists") or {}).get("playlist") or [])

    def playlist(self, playlist_id: str) -> dict[str, Any]:
        return dict(self._call("getPlaylist", id=playlist_id).get("playlist") or {})

    def save_playlist(self, name: str, song_ids: list[str], playlist_id: str | None = None) -> str:
        """Create the playlist, or replace the songs of ``playlist_id`` (``createPlaylist`` with
        an id overwrites in place: one call, idempotent). Returns the server's id."""
        params: dict[str, Any] = {"songId": song_ids}
        params |= {"playlistId": playlist_id} if playlist_id else {"name": name}
        body = self._call("createPlaylist", **params)
        created = body.get("playlist") or {}
        if created.get("id"):
            return str(created["id"])
        # API < 1.14 returns nothing: find it by name
        return next(str(p["id"]) for p in self.playlists() if p.get("name") == name)
