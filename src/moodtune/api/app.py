"""The FastAPI application factory. Nothing is built at import time: ``create_app(settings)``."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from moodtune import __version__
from moodtune.api.errors import install_error_handlers
from moodtune.api.metrics import Metrics, MetricsMiddleware, StateProbes
from moodtune.api.routers import (
    analysis,
    emotions,
    health,
    listeners,
    playlists,
    recommendations,
    spotify,
    tracks,
)
from moodtune.api.schemas import API_PREFIX
from moodtune.api.security import SecurityHeadersMiddleware
from moodtune.catalog import repo
from moodtune.catalog.db import DatabaseHealth, create_db_engine, make_session_factory
from moodtune.catalog.index import CatalogIndex, CatalogSnapshot
from moodtune.catalog.snapshot import SnapshotStore
from moodtune.catalog.sources import SourceClients
from moodtune.config import Settings
from moodtune.service import TasteCache
from moodtune.storage import open_storage
from moodtune.vision.pipeline import EmotionPipeline

__all__ = ["create_app"]

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).resolve().parents[1] / "web"


def _load_vision(settings: Settings) -> EmotionPipeline | Exception:
    """The photo pipeline, or the error that stopped it (photo routes then answer model_error)."""
    try:
        return EmotionPipeline.default(
            detector=settings.face_detector,
            max_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_image_pixels,
        )
    except Exception as exc:  # a broken model install must not take the catalog API down
        log.exception("could not load the emotion pipeline")
        return exc


def _snapshot(app: FastAPI) -> CatalogSnapshot | None:
    index = getattr(app.state, "index", None)
    return index.snapshot if index is not None else None


def _library_tracks(app: FastAPI) -> float:
    factory = getattr(app.state, "session_factory", None)
    health = getattr(app.state, "db_health", None)
    if factory is None or health is None or health.down:
        return float("nan")
    try:
        with factory() as session:
            return float(repo.library_track_count(session=session))
    except Exception:  # a scrape must not fail: the outage shows in moodtune_database_up
        return float("nan")


def _state_probes(app: FastAPI) -> StateProbes:
    def database_up() -> float:
        health = getattr(app.state, "db_health", None)
        return float(health is not None and not health.down)

    def snapshot_label() -> tuple[str, str] | None:
        snapshot = _snapshot(app)
        return (snapshot.key or "memory", snapshot.origin) if snapshot is not None else None

    def catalog_tracks() -> float:
        snapshot = _snapshot(app)
        return float(snapshot.tracks_in_db) if snapshot is not None else 0.0

    def placeable_tracks() -> float:
        snapshot = _snapshot(app)
        return float(len(snapshot.matrix)) if snapshot is not None else 0.0

    return StateProbes(
        catalog_tracks=catalog_tracks,
        placeable_tracks=placeable_tracks,
        library_tracks=lambda: _library_tracks(app),
        database_up=database_up,
        ready=lambda: float(database_up() == 1.0 and _snapshot(app) is not None),
        snapshot=snapshot_label,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the engine and the catalog index are made in its lifespan."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_db_engine(settings.database_url)
        app.state.db_health = DatabaseHealth(engine)
        app.state.session_factory = make_session_factory(engine)
        index = CatalogIndex(
            app.state.session_factory,
            refresh_s=settings.catalog_refresh_s,
            store=SnapshotStore.open(settings.snapshots, settings.storage_url),
            keep_in_memory=settings.snapshot_lock,
        )
        app.state.index = index
        app.state.taste_cache = TasteCache()
        try:
            index.load()
        except Exception:  # keep serving: /readyz reports 503 until the DB is migrated/filled
            log.exception("could not load the catalog index; run `moodtune db upgrade`")
        app.state.vision = _load_vision(settings)
        app.state.source_clients = SourceClients(settings.data_dir)
        yield
        app.state.source_clients.close()
        app.state.db_health.close()
        engine.dispose()

    app = FastAPIOffline(  # /docs and /redoc from files in the package: self-hosts have no CDN
        title="moodtune",
        version=__version__,
        description="Music recommendations from how you feel. Errors are "
        '`{"error": {"code", "message", "details"}}`.',
        lifespan=lifespan,
        license_info={"name": "GPL-3.0-or-later", "identifier": "GPL-3.0-or-later"},
    )
    app.state.settings = settings
    app.state.storage = open_storage(settings.storage_url)
    metrics = Metrics(_state_probes(app))
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics, prefix=API_PREFIX)
    media_origin = app.state.storage.origin()
    app.add_middleware(
        SecurityHeadersMiddleware,
        media_origins=[media_origin] if media_origin else [],
        spotify_sdk=bool(settings.spotify_client_id),
    )
    install_error_handlers(app)
    routers = (
        health.router,
        tracks.router,
        recommendations.router,
        emotions.router,
        listeners.router,
        playlists.router,
        analysis.router,
        spotify.router,
    )
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        metrics.refresh_snapshot()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    @app.get("/s/{token}", include_in_schema=False)
    def shared_page(token: str) -> FileResponse:
        """A shared playlist's read-only page (it asks GET /api/v1/shared/{token})."""
        return FileResponse(WEB_DIR / "shared.html", headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    def home() -> FileResponse:
        """The web app: a static page that talks to the API (no build step, no CDN)."""
        return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    return app
