"""A local stand-in for Spotify's accounts service and Web API, for tests only.

Its bodies come from tests/fixtures/spotify (transcribed from Spotify's reference, not recorded
live: see that folder's README). It checks what the real service checks that moodtune could
get wrong: the PKCE S256 challenge against the verifier, the redirect URI, one use per code,
bearer tokens (and their expiry), at most 100 items per add.
"""

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "spotify"
CLIENT_ID = "moodtune-test-client"


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)


@dataclass
class FakeSpotify:
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> challenge, uri
    access: set[str] = field(default_factory=set)
    refresh: set[str] = field(default_factory=set)
    playlists: dict[str, dict[str, Any]] = field(default_factory=dict)
    refreshed: int = 0
    product: str = "premium"
    played: list[tuple[str, list[str]]] = field(default_factory=list)  # device, uris

    def expire_tokens(self) -> None:
        """Every access token stops working (as after an hour), refresh tokens still do."""
        self.access.clear()

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = (q["code_challenge"], q["redirect_uri"])
        # the listener said yes on the consent page
        back = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}"
        return RedirectResponse(back, status_code=303)

    def _tokens(self, *, rotate: bool) -> dict[str, Any]:
        doc = _fixture("token.json")
        doc["access_token"] = secrets.token_urlsafe(24)
        self.access.add(doc["access_token"])
        if rotate:
            doc["refresh_token"] = secrets.token_urlsafe(24)
            self.refresh.add(doc["refresh_token"])
        else:
            del doc["refresh_token"]  # Spotify may keep the old one
        return doc

    async def token(self, request: Request) -> Response:
        form = await request.form()
        if form.get("client_id") != CLIENT_ID:
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        if form.get("grant_type") == "authorization_code":
            challenge, uri = self.codes.pop(str(form.get("code")), ("", ""))
            verifier = str(form.get("code_verifier", ""))
            digest = hashlib.sha256(verifier.encode()).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not challenge or expected != challenge or form.get("redirect_uri") != uri:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "Invalid authorization code"},
                    status_code=400,
                )
            return JSONResponse(self._tokens(rotate=True))
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "Invalid refresh token"},
                    status_code=400,
                )
            self.refreshed += 1
            return JSONResponse(self._tokens(rotate=False))
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    def _bearer(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.access

    async def me(self, request: Request) -> Response:
        if not self._bearer(request):
            return _error(401, "The access token expired")
        doc = _fixture("me.json")
        doc["product"] = self.product
        return JSONResponse(doc)

    async def create_playlist(self, request: Request) -> Response:
        if not self._bearer(request):
            return _error(401, "The access token expired")
        body = await request.json()
        playlist_id = secrets.token_hex(11)
        doc = json.loads(
            json.dumps(_fixture("playlist_created.json")).replace("PLAYLIST_ID", playlist_id)
        )
        doc |= {"name": body["name"], "description": body.get("description", ""),
                "public": body.get("public", True)}  # fmt: skip
        self.playlists[playlist_id] = {**doc, "owner_id": request.path_params["user"], "uris": []}
        return JSONResponse(doc, status_code=201)

    async def add_tracks(self, request: Request) -> Response:
        if not self._bearer(request):
            return _error(401, "The access token expired")
        playlist = self.playlists.get(request.path_params["playlist"])
        if playlist is None:
            return _error(404, "Not found.")
        uris = (await request.json()).get("uris", [])
        if len(uris) > 100:
            return _error(400, "You can add a maximum of 100 tracks per request.")
        playlist["uris"].extend(uris)
        return JSONResponse({"snapshot_id": secrets.token_urlsafe(12)}, status_code=201)

    async def play(self, request: Request) -> Response:
        if not self._bearer(request):
            return _error(401, "The access token expired")
        if self.product != "premium":
            return JSONResponse(
                {"error": {"status": 403, "message": "Player command failed: Premium required",
                           "reason": "PREMIUM_REQUIRED"}},
                status_code=403,
            )  # fmt: skip
        body = await request.json()
        self.played.append((request.query_params.get("device_id", ""), body.get("uris", [])))
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/authorize", self.authorize),
                Route("/api/token", self.token, methods=["POST"]),
                Route("/v1/me", self.me),
                Route("/v1/users/{user}/playlists", self.create_playlist, methods=["POST"]),
                Route("/v1/playlists/{playlist}/tracks", self.add_tracks, methods=["POST"]),
                Route("/v1/me/player/play", self.play, methods=["PUT"]),
            ]
        )
