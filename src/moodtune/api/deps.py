"""FastAPI dependencies: settings, DB session, catalog index, the listener behind the cookie."""

import uuid
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import Cookie, Depends, Header, Query, Request, Response
from sqlalchemy.orm import Session

from moodtune.catalog import repo
from moodtune.catalog.index import CatalogIndex
from moodtune.catalog.models import Listener
from moodtune.catalog.sources import SourceClients
from moodtune.config import Settings
from moodtune.i18n import LANGS, negotiate
from moodtune.service import TasteCache
from moodtune.storage import Storage

__all__ = [
    "LISTENER_COOKIE",
    "IndexDep",
    "LangDep",
    "ListenerIdDep",
    "ListenerDep",
    "OptionalListenerDep",
    "SessionDep",
    "SettingsDep",
    "SourceClientsDep",
    "StorageDep",
    "TasteCacheDep",
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


def _taste_cache(request: Request) -> TasteCache:
    return request.app.state.taste_cache  # type: ignore[no-any-return]


def _source_clients(request: Request) -> SourceClients:
    return request.app.state.source_clients  # type: ignore[no-any-return]


def _storage(request: Request) -> Storage:
    return request.app.state.storage  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(_settings)]
StorageDep = Annotated[Storage, Depends(_storage)]
SourceClientsDep = Annotated[SourceClients, Depends(_source_clients)]
SessionDep = Annotated[Session, Depends(_session)]
IndexDep = Annotated[CatalogIndex, Depends(_index)]
TasteCacheDep = Annotated[TasteCache, Depends(_taste_cache)]


def _lang(
    lang: Annotated[
        Literal[LANGS] | None,  # type: ignore[valid-type]
        Query(description="Language of texts (reasons); else Accept-Language, else English."),
    ] = None,
    accept_language: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str:
    return negotiate(lang, accept_language)


LangDep = Annotated[str, Depends(_lang)]
_CookieValue = Annotated[str | None, Cookie(alias=LISTENER_COOKIE, include_in_schema=False)]


def _listener_id(
    settings: SettingsDep, response: Response, listener_id: _CookieValue = None
) -> str:
    """This browser's listener id: the cookie's, or a new one (and its cookie). Creates no row:
    a listener is stored on its first write."""
    parsed = repo.parse_listener_id(listener_id)
    if parsed is not None:
        return parsed
    new_id = str(uuid.uuid4())
    response.set_cookie(
        LISTENER_COOKIE,
        new_id,
        max_age=_ONE_YEAR_S,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )
    return new_id


ListenerIdDep = Annotated[str, Depends(_listener_id)]


def _listener(session: SessionDep, listener_id: ListenerIdDep) -> Listener:
    """The listener behind the cookie, stored now if this is its first write."""
    return repo.get_or_create_listener(listener_id, session=session)


def _optional_listener(session: SessionDep, listener_id: _CookieValue = None) -> Listener | None:
    return repo.get_listener(listener_id, session=session)


ListenerDep = Annotated[Listener, Depends(_listener)]
OptionalListenerDep = Annotated[Listener | None, Depends(_optional_listener)]
