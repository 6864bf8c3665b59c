"""Spotify login (Authorization Code + PKCE) and "Save to Spotify"; off unless
MOODTUNE_SPOTIFY_CLIENT_ID is set."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from moodtune.api.deps import ListenerIdDep, OptionalListenerDep, SessionDep, SettingsDep
from moodtune.api.params import PlaylistIdPath
from moodtune.api.routers.playlists import public_base
from moodtune.api.schemas import (
    ErrorOut,
    SavedToSpotifyOut,
    SpotifyPlayIn,
    SpotifyStatusOut,
    SpotifyTokenOut,
)
from moodtune.catalog import repo
from moodtune.catalog import spotify as accounts
from moodtune.config import Settings
from moodtune.errors import InvalidInput, LoginRequired, MoodtuneError, NotFound
from moodtune.sources.spotify import SpotifyClient

router = APIRouter(tags=["spotify"])
CALLBACK = "/api/v1/spotify/callback"


def _client(request: Request, settings: Settings) -> SpotifyClient:
    if not settings.spotify_client_id:
        raise NotFound("Spotify is not set up on this server (MOODTUNE_SPOTIFY_CLIENT_ID)")
    client = getattr(request.app.state, "spotify", None)
    if client is None:
        client = SpotifyClient(
            settings.spotify_client_id,
            accounts_url=settings.spotify_accounts_url,
            api_url=settings.spotify_api_url,
        )
        request.app.state.spotify = client
    return client


def _redirect(url: str, response: Response) -> RedirectResponse:
    """A redirect carrying the cookies dependencies set on ``response`` (a new listener's id):
    FastAPI copies them only into responses it builds itself."""
    redirect = RedirectResponse(url, status_code=307)
    redirect.raw_headers.extend((k, v) for k, v in response.raw_headers if k == b"set-cookie")
    return redirect


def _redirect_uri(settings: Settings, request: Request) -> str:
    return public_base(settings, request) + CALLBACK


@router.get("/spotify", response_model=SpotifyStatusOut)
def spotify_status(
    settings: SettingsDep, listener_id: ListenerIdDep, session: SessionDep, request: Request
) -> SpotifyStatusOut:
    """Whether Spotify is set up here, and this browser's login."""
    account = accounts.account_of(listener_id, session=session)
    return SpotifyStatusOut(
        configured=bool(settings.spotify_client_id),
        connected=account is not None,
        display_name=account.display_name if account else None,
        premium=bool(account and account.product == "premium"),
        redirect_uri=_redirect_uri(settings, request) if settings.spotify_client_id else None,
    )


@router.get("/spotify/login", status_code=307, responses={404: {"model": ErrorOut}})
def spotify_login(
    request: Request,
    response: Response,
    settings: SettingsDep,
    listener_id: ListenerIdDep,
    session: SessionDep,
) -> RedirectResponse:
    """Start the login: a redirect to Spotify's consent page (PKCE, no client secret)."""
    url = accounts.start_login(
        listener_id,
        session=session,
        client=_client(request, settings),
        redirect_uri=_redirect_uri(settings, request),
    )
    session.commit()
    return _redirect(url, response)


@router.get("/spotify/callback", status_code=307, responses={404: {"model": ErrorOut}})
def spotify_callback(
    request: Request,
    response: Response,
    settings: SettingsDep,
    listener_id: ListenerIdDep,
    session: SessionDep,
    state: Annotated[str, Query(max_length=64)] = "",
    code: Annotated[str, Query(max_length=2000)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
) -> RedirectResponse:
    """Where Spotify sends the browser back; then on to the page, which says how it went."""
    client = _client(request, settings)
    if error or not code or not state:
        return _redirect(f"/?spotify=error&reason={error or 'no_code'}", response)
    try:
        accounts.finish_login(
            listener_id,
            state=state,
            code=code,
            session=session,
            client=client,
            redirect_uri=_redirect_uri(settings, request),
        )
        session.commit()
    except MoodtuneError as exc:
        session.rollback()
        return _redirect(f"/?spotify=error&reason={exc.code}", response)
    return _redirect("/?spotify=connected", response)


@router.post("/spotify/logout", status_code=status.HTTP_204_NO_CONTENT)
def spotify_logout(listener_id: ListenerIdDep, session: SessionDep) -> Response:
    """Forget this browser's Spotify tokens (revoke moodtune in Spotify's account page too)."""
    accounts.logout(listener_id, session=session)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/spotify/token",
    response_model=SpotifyTokenOut,
    responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}},
)
def spotify_player_token(
    request: Request, settings: SettingsDep, listener_id: ListenerIdDep, session: SessionDep
) -> SpotifyTokenOut:
    """A short-lived access token for Spotify's Web Playback SDK (Premium accounts); the
    refresh token never leaves the server."""
    client = _client(request, settings)
    account = accounts.account_of(listener_id, session=session)
    if account is None:
        raise LoginRequired("log in to Spotify first")
    token = accounts.access_token(account, session=session, client=client)
    session.commit()
    return SpotifyTokenOut(access_token=token, expires_at=account.expires_at)


@router.post(
    "/spotify/play",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={c: {"model": ErrorOut} for c in (400, 401, 404, 502, 503)},
)
def spotify_play(
    body: SpotifyPlayIn,
    request: Request,
    settings: SettingsDep,
    listener_id: ListenerIdDep,
    session: SessionDep,
) -> Response:
    """Play a catalog track on this browser's Spotify player (the Web Playback SDK's device;
    Premium accounts). 400 for a track that is not on Spotify; Spotify's refusal (no Premium)
    is 502 ``source_auth``."""
    client = _client(request, settings)
    track = repo.get_track(body.track_id, session=session)
    if not track.spotify_id:
        raise InvalidInput(f"track {track.id} is not on Spotify", track_id=track.id)
    accounts.play_on_device(
        track.spotify_id, body.device_id, listener_id, session=session, client=client
    )
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/playlists/{playlist_id}/spotify",
    response_model=SavedToSpotifyOut,
    responses={c: {"model": ErrorOut} for c in (400, 401, 404, 502, 503)},
)
def save_playlist_to_spotify(
    playlist_id: PlaylistIdPath,
    request: Request,
    settings: SettingsDep,
    listener: OptionalListenerDep,
    session: SessionDep,
) -> SavedToSpotifyOut:
    """Create the playlist in the listener's Spotify account (private) with its tracks that
    are on Spotify; ``missing`` counts the others (your library and server tracks). 400 when
    Spotify is not set up on this server."""
    playlist = repo.get_playlist(playlist_id, session=session, listener=listener)
    if not settings.spotify_client_id:
        raise InvalidInput("Spotify is not set up on this server (MOODTUNE_SPOTIFY_CLIENT_ID)")
    client = _client(request, settings)
    assert listener is not None  # get_playlist answered 404 otherwise
    saved = accounts.save_to_spotify(playlist, listener.id, session=session, client=client)
    session.commit()
    return SavedToSpotifyOut(**saved.as_dict())
