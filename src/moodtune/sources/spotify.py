"""Spotify's accounts service and Web API, as far as moodtune uses them: log a listener in with
Authorization Code + PKCE (no client secret: a self-hosted server cannot keep one), refresh
tokens, and save a playlist in the listener's account.

The base URLs are parameters, so tests run against a local fake (tests/spotify_fake.py).
"""

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx

from moodtune.errors import SourceAuth, SourceUnavailable

__all__ = ["SCOPES", "SpotifyClient", "TokenExpired", "Tokens", "code_challenge", "new_verifier"]

#: What moodtune asks for: create and fill private playlists; for the Web Playback SDK,
#: ``streaming`` and the profile (the SDK needs ``user-read-email`` and ``user-read-private``).
SCOPES = ("playlist-modify-private", "streaming", "user-read-email", "user-read-private")
_ADD_BATCH = 100  # Spotify adds at most 100 items per request


class TokenExpired(SourceAuth):
    """Spotify stopped taking an access token (401): refresh it and try again."""


def new_verifier() -> str:
    """A PKCE code verifier: 64 URL-safe characters (RFC 7636 allows 43-128)."""
    return secrets.token_urlsafe(48)


def code_challenge(verifier: str) -> str:
    """S256 challenge: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: float  # epoch seconds
    scope: str

    @classmethod
    def from_json(cls, doc: dict[str, Any], *, refresh_token: str | None = None) -> "Tokens":
        return cls(
            access_token=str(doc["access_token"]),
            # a refresh may or may not rotate the refresh token
            refresh_token=str(doc.get("refresh_token") or refresh_token or ""),
            expires_at=time.time() + float(doc.get("expires_in", 3600)),
            scope=str(doc.get("scope", "")),
        )


class SpotifyClient:
    def __init__(
        self,
        client_id: str,
        *,
        accounts_url: str = "https://accounts.spotify.com",
        api_url: str = "https://api.spotify.com/v1",
        timeout_s: float = 15.0,
    ) -> None:
        self.client_id = client_id
        self.accounts_url = accounts_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    # ---- accounts --------------------------------------------------------------------
    def authorize_url(self, *, redirect_uri: str, state: str, verifier: str) -> str:
        query = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "code_challenge_method": "S256",
            "code_challenge": code_challenge(verifier),
            "state": state,
            "scope": " ".join(SCOPES),
        }
        return f"{self.accounts_url}/authorize?{urlencode(query)}"

    def exchange_code(self, code: str, *, redirect_uri: str, verifier: str) -> Tokens:
        return Tokens.from_json(
            self._token(
                grant_type="authorization_code",
                code=code,
                redirect_uri=redirect_uri,
                code_verifier=verifier,
            )
        )

    def refresh(self, refresh_token: str) -> Tokens:
        doc = self._token(grant_type="refresh_token", refresh_token=refresh_token)
        return Tokens.from_json(doc, refresh_token=refresh_token)

    def _token(self, **form: str) -> dict[str, Any]:
        try:
            response = self._http.post(
                f"{self.accounts_url}/api/token", data={**form, "client_id": self.client_id}
            )
        except httpx.HTTPError as exc:
            raise SourceUnavailable(f"Spotify's accounts service cannot be reached: {exc}") from exc
        if response.status_code in (400, 401):
            error = _error_of(response)
            raise SourceAuth(f"Spotify refused the login: {error}", spotify_error=error)
        return self._ok(response)

    # ---- Web API ---------------------------------------------------------------------
    def me(self, access_token: str) -> dict[str, Any]:
        return self._api("GET", "/me", access_token)

    def create_playlist(
        self, access_token: str, user_id: str, name: str, description: str
    ) -> dict[str, Any]:
        body = {"name": name, "description": description, "public": False}
        return self._api("POST", f"/users/{user_id}/playlists", access_token, json=body)

    def add_tracks(self, access_token: str, playlist_id: str, uris: list[str]) -> None:
        for start in range(0, len(uris), _ADD_BATCH):
            batch = uris[start : start + _ADD_BATCH]
            self._api(
                "POST", f"/playlists/{playlist_id}/tracks", access_token, json={"uris": batch}
            )

    def play(self, access_token: str, device_id: str, uri: str) -> None:
        """Start ``uri`` on a Web Playback SDK device (Premium accounts only: 403 otherwise)."""
        self._api(
            "PUT", f"/me/player/play?device_id={device_id}", access_token, json={"uris": [uri]}
        )

    def _api(self, method: str, path: str, access_token: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {access_token}"}
        try:
            response = self._http.request(method, self.api_url + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(f"Spotify cannot be reached: {exc}") from exc
        if response.status_code == 401:
            raise TokenExpired("Spotify says the login expired", spotify_error=_error_of(response))
        return self._ok(response)

    @staticmethod
    def _ok(response: httpx.Response) -> dict[str, Any]:
        if response.status_code == 403:
            raise SourceAuth(f"Spotify refused: {_error_of(response)}")
        if response.status_code >= 400:
            raise SourceUnavailable(
                f"Spotify answered HTTP {response.status_code}: {_error_of(response)}"
            )
        return response.json() if response.content else {}


def _error_of(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        return response.text[:200]
    error = doc.get("error")
    if isinstance(error, dict):
        return str(error.get("message", error))
    return str(doc.get("error_description") or error or doc)
