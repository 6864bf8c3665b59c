"""A real PostgreSQL server stopped under a running app: 503 `unavailable` from every route that
needs it, one warning when the outage starts and one when it ends, recovery by itself."""

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from moodtune.api import create_app
from moodtune.catalog.db import create_db_engine, make_session_factory
from moodtune.catalog.importers import import_catalog
from moodtune.config import Settings
from tests.api.conftest import assert_error
from tests.pgcluster import ClusterUnavailable, PostgresCluster, postgres_unavailable

pytestmark = pytest.mark.postgres

ASTRONAUT = Path(__file__).resolve().parents[1] / "fixtures" / "astronaut.jpg"
#: Every route that reads or writes the database, with a body where it takes one.
DATABASE_ROUTES = [
    ("GET", "/api/v1/readyz", None),
    ("GET", "/api/v1/tracks", None),
    ("GET", "/api/v1/tracks/1", None),
    ("GET", "/api/v1/tracks/1/audio", None),
    ("GET", "/api/v1/tracks/1/cover", None),
    ("GET", "/api/v1/tracks/1/similar", None),
    ("GET", "/api/v1/genres", None),
    ("POST", "/api/v1/recommendations", {"emotion": "sad"}),
    ("POST", "/api/v1/feedback", {"track_id": 1, "kind": "like"}),
    ("POST", "/api/v1/playlists", {"name": "x", "tracks": [{"track_id": 1}]}),
    ("GET", "/api/v1/playlists", None),
    ("GET", "/api/v1/playlists/1", None),
    ("GET", "/api/v1/playlists/1/export", None),
    ("GET", "/api/v1/listeners/me", None),
    ("GET", "/api/v1/listeners/me/taste", None),
]


@pytest.fixture
def cluster(small_catalog: Path) -> Iterator[PostgresCluster]:
    """A server of this test's own, holding the 1,500-track catalog."""
    try:
        cluster = PostgresCluster().start()
    except ClusterUnavailable as exc:
        postgres_unavailable(str(exc))
    try:
        engine = create_db_engine(cluster.create_database("moodtune"))
        import_catalog(small_catalog, session_factory=make_session_factory(engine))
        engine.dispose()
        yield cluster
    finally:
        cluster.remove()


def _wait_until_ready(client: TestClient) -> None:
    deadline = time.monotonic() + 60
    while client.get("/api/v1/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the app did not recover within 60 s"
        time.sleep(0.1)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "moodtune.catalog.db"]


def test_a_stopped_database_gives_503_then_recovers(
    cluster: PostgresCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=f"{cluster.url}/moodtune", data_dir=tmp_path)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/api/v1/readyz").status_code == 200
        for stop_mode in ("fast", "immediate"):  # a server shutting down; one that just dies
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                cluster.stop(stop_mode)
                for method, path, body in DATABASE_ROUTES * 2:
                    response = client.request(method, path, json=body)
                    assert_error(response, 503, "unavailable")
                    assert response.headers["retry-after"] == "1"
                assert client.get("/api/v1/healthz").status_code == 200
                photo = {"image": ("a.jpg", ASTRONAUT.read_bytes(), "image/jpeg")}
                assert client.post("/api/v1/emotions", files=photo).status_code == 200
                assert client.get("/").status_code == 200
                down = _warnings(caplog)
                cluster.start()
                _wait_until_ready(client)
            assert len(down) == 1 and "database unreachable" in down[0], down
            assert _warnings(caplog)[1:] == [_warnings(caplog)[1]]
            assert "reachable again" in _warnings(caplog)[1]
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert client.get("/api/v1/tracks").status_code == 200
