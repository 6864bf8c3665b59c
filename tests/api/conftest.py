from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from moodtune.api import create_app
from moodtune.catalog.db import create_db_engine, make_session_factory
from moodtune.catalog.importers import import_catalog
from moodtune.config import Settings


@pytest.fixture(scope="module")
def catalog_db(module_db_url: str, small_catalog: Path) -> str:
    """A database holding the 1,500 real tracks of ``small_catalog``."""
    engine = create_db_engine(module_db_url)
    report = import_catalog(small_catalog, session_factory=make_session_factory(engine))
    engine.dispose()
    assert report.inserted == 1500
    return module_db_url


@pytest.fixture(scope="module")
def app_settings(catalog_db: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=catalog_db, data_dir=tmp_path_factory.mktemp("data"), catalog_refresh_s=0
    )


@pytest.fixture(scope="module")
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def other_client(app_settings: Settings, client: TestClient) -> Iterator[TestClient]:
    """A second browser (its own cookie jar) against the same database."""
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as c:
        yield c


def assert_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]
