"""The real app on 127.0.0.1 in a thread (uvicorn), on a temp SQLite database holding the
1,500-track catalog slice and four analysed demo tracks: for the browser and fuzz tests."""

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from moodtune.api import create_app
from moodtune.catalog.db import create_db_engine, make_session_factory, migrate
from moodtune.catalog.importers import import_catalog
from moodtune.catalog.library import add_library
from moodtune.config import Settings
from moodtune.storage import open_storage

DEMO = Path(__file__).resolve().parents[1] / "demo" / "music"


def demo_settings(data: Path, catalog: Path) -> Settings:
    """Settings of a fresh data folder with ``catalog`` imported and four demo tracks analysed."""
    settings = Settings(data_dir=data, catalog_refresh_s=0)
    engine = create_db_engine(settings.database_url)
    migrate(engine)
    factory = make_session_factory(engine)
    import_catalog(catalog, session_factory=factory)
    music = data / "music"
    music.mkdir()
    for name in ("etr_1.ogg", "supertux_1.ogg", "etr_0.ogg", "wesnoth_1.ogg"):
        shutil.copy(DEMO / name, music / name)
    add_library(music, session_factory=factory, storage=open_storage(settings.storage_url))
    engine.dispose()
    return settings


def serve(settings: Settings) -> AbstractContextManager[str]:
    """moodtune served by uvicorn on a free port; yields its base URL."""
    return serve_app(create_app(settings))


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Any ASGI app served by uvicorn on a free port; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
