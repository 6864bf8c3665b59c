"""Listeners' Spotify logins (PKCE) and "Save to Spotify", persisted per listener.

Tokens stay on the server, in the listener's row; the browser only ever gets a short-lived
access token for Spotify's own player (Web Playback SDK), never the refresh token.
"""

import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import delete
from sqlalchemy.orm import Session

from moodtune.catalog import repo
from moodtune.catalog.models import Playlist, SpotifyAccount, SpotifyLogin, utcnow
from moodtune.errors import InvalidInput, LoginRequired
from moodtune.sources.spotify import SpotifyClient, TokenExpired

__all__ = [
    "LOGIN_TTL",
    "SavedToSpotify",
    "access_token",
    "account_of",
    "finish_login",
    "logout",
    "play_on_device",
    "save_to_spotify",
    "start_login",
]

T = TypeVar("T")
LOGIN_TTL = timedelta(minutes=10)
_REFRESH_MARGIN_S = 60  # refresh a token that expires within a minute


def start_login(
    listener_id: str, *, session: Session, client: SpotifyClient, redirect_uri: str
) -> str:
    """Remember a fresh verifier under a random state and return Spotify's authorize URL."""
    repo.get_or_create_listener(listener_id, session=session)
    session.execute(delete(SpotifyLogin).where(SpotifyLogin.created_at < utcnow() - LOGIN_TTL))
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    session.add(SpotifyLogin(state=state, listener_id=listener_id, verifier=verifier))
    session.flush()
    return client.authorize_url(redirect_uri=redirect_uri, state=state, verifier=verifier)


def finish_login(
    listener_id: str,
    *,
    state: str,
    code: str,
    session: Session,
    client: SpotifyClient,
    redirect_uri: str,
) -> SpotifyAccount:
    """Trade the code for tokens; only the browser that started this login may finish it."""
    login = session.get(SpotifyLogin, state)
    if login is None or login.listener_id != listener_id:
        raise InvalidInput("this Spotify login was not started in this browser; start it again")
    session.delete(login)
    if login.created_at < utcnow() - LOGIN_TTL:
        raise InvalidInput("this Spotify login took too long; start it again")
    tokens = client.exchange_code(code, redirect_uri=redirect_uri, verifier=login.verifier)
    me = client.me(tokens.access_token)
    account = session.get(SpotifyAccount, listener_id) or SpotifyAccount(listener_id=listener_id)
    account.access_token, account.refresh_token = tokens.access_token, tokens.refresh_token
    account.expires_at, account.scope = tokens.expires_at, tokens.scope
    account.user_id, account.display_name = str(me["id"]), me.get("display_name")
    account.product, account.connected_at = me.get("product"), utcnow()
    session.add(account)
    session.flush()
    return account


def account_of(listener_id: str | None, *, session: Session) -> SpotifyAccount | None:
    return session.get(SpotifyAccount, listener_id) if listener_id else None


def access_token(account: SpotifyAccount, *, session: Session, client: SpotifyClient) -> str:
    """A valid access token, refreshed (and stored) when it is about to expire."""
    if account.expires_at - _REFRESH_MARGIN_S <= time.time():
        tokens = client.refresh(account.refresh_token)
        account.access_token, account.refresh_token = tokens.access_token, tokens.refresh_token
        account.expires_at = tokens.expires_at
        session.flush()
    return account.access_token


def _with_token(
    account: SpotifyAccount, session: Session, client: SpotifyClient, call: Callable[[str], T]
) -> T:
    """Call with a valid token; a token Spotify stopped taking early (revoked, clock skew) is
    refreshed once and the call tried again."""
    try:
        return call(access_token(account, session=session, client=client))
    except TokenExpired:
        account.expires_at = 0.0
        return call(access_token(account, session=session, client=client))


def play_on_device(
    track_spotify_id: str,
    device_id: str,
    listener_id: str,
    *,
    session: Session,
    client: SpotifyClient,
) -> None:
    """Play a catalog track on the listener's in-page Spotify player (Premium)."""
    account = account_of(listener_id, session=session)
    if account is None:
        raise LoginRequired("log in to Spotify first")
    uri = f"spotify:track:{track_spotify_id}"
    _with_token(account, session, client, lambda token: client.play(token, device_id, uri))


def logout(listener_id: str, *, session: Session) -> bool:
    account = session.get(SpotifyAccount, listener_id)
    if account is None:
        return False
    session.delete(account)
    session.flush()
    return True


@dataclass(frozen=True)
class SavedToSpotify:
    playlist_id: str
    url: str | None
    added: int
    missing: int  # tracks without a Spotify id (library and server tracks)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def save_to_spotify(
    playlist: Playlist, listener_id: str, *, session: Session, client: SpotifyClient
) -> SavedToSpotify:
    """Create the playlist in the listener's Spotify account with every track that has a
    Spotify id; the others are counted as missing."""
    account = account_of(listener_id, session=session)
    if account is None:
        raise LoginRequired("log in to Spotify first")
    uris = [f"spotify:track:{i.track.spotify_id}" for i in playlist.items if i.track.spotify_id]
    if not uris:
        raise InvalidInput("none of the playlist's tracks is on Spotify")
    created = _with_token(
        account,
        session,
        client,
        lambda token: client.create_playlist(
            token, account.user_id, playlist.name, "Made by moodtune from how you feel."
        ),
    )
    _with_token(account, session, client, lambda t: client.add_tracks(t, str(created["id"]), uris))
    url = (created.get("external_urls") or {}).get("spotify")
    return SavedToSpotify(str(created["id"]), url, len(uris), len(playlist.items) - len(uris))
