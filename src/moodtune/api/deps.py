"""FastAPI dependencies: settings, DB session, catalog index, the listener behind the cookie."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Cookie, Depends, Request, Response
from sqlalchemy.orm import Session

from moodtune.catalog import repo
from moodtune.catalog.index import CatalogIndex
from moodtune.catalog.models import Listener
from moodtune.config import Settings
from moodtune.storage import Storage

__all__ = [
    "LISTENER_COOKIE",
    "IndexDep",
    "ListenerDep",
    "OptionalListenerDep",
    "SessionDep",
    "SettingsDep",
    "StorageDep",
]

LISTENER_COOKIE = "moodtune_listener"
_ONE_YEAR_S = 365 * 24 * 3600


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _session(request: Request) -> Iterator[Session]:
    """A session per request; routes that write call ``session.commit()`` themselves.

    While the database is known to be down this answers 503 at once, before any connect."""
    request.app.state.db_health.check()
    with request.app.state.session_factory() as session:
        yield session


def _index(request: Request) -> CatalogIndex:
    return request.app.state.index  # type: ignore[no-any-return]


def _storage(request: Request) -> Storage:
    return request.app.state.storage  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(_settings)]
StorageDep = Annotated[Storage, Depends(_storage)]
SessionDep = Annotated[Session, Depends(_session)]
IndexDep = Annotated[CatalogIndex, Depends(_index)]
_CookieValue = Annotated[str | None, Cookie(alias=LISTENER_COOKIE, include_in_schema=False)]


def _listener(
    session: SessionDep, settings: SettingsDep, response: Response, listener_id: _CookieValue = None
) -> Listener:
    """The anonymous listener of this browser, created (and its cookie set) on first use."""
    listener = repo.get_or_create_listener(listener_id, session=session)
    if listener.id != listener_id:
        response.set_cookie(
            LISTENER_COOKIE,
            listener.id,
            max_age=_ONE_YEAR_S,
            httponly=True,
            samesite="lax",
            secure=settings.cookie_secure,
        )
    return listener


def _optional_listener(session: SessionDep, listener_id: _CookieValue = None) -> Listener | None:
    return repo.get_listener(listener_id, session=session)


ListenerDep = Annotated[Listener, Depends(_listener)]
OptionalListenerDep = Annotated[Listener | None, Depends(_optional_listener)]
