from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.conftest import assert_error


def test_search_by_words_in_any_order_and_case(client: TestClient) -> None:
    first = client.get("/api/v1/tracks", params={"limit": 1}).json()["items"][0]
    words = f"{first['artists'][0].upper()} {max(first['title'].split(), key=len).lower()}"
    found = client.get("/api/v1/tracks", params={"q": words}).json()
    assert first["id"] in [t["id"] for t in found["items"]]


def test_pagination_covers_every_track_once(client: TestClient) -> None:
    page1 = client.get("/api/v1/tracks", params={"genre": "ambient", "limit": 50}).json()
    page2 = client.get(
        "/api/v1/tracks", params={"genre": "ambient", "limit": 50, "offset": 50}
    ).json()
    assert page1["total"] == page2["total"] > 50
    ids = [t["id"] for t in page1["items"] + page2["items"]]
    assert len(ids) == len(set(ids)) and all("ambient" in t["genres"] for t in page1["items"])


def test_track_by_id_and_missing_track(client: TestClient) -> None:
    track = client.get("/api/v1/tracks", params={"limit": 1}).json()["items"][0]
    body = client.get(f"/api/v1/tracks/{track['id']}").json()
    assert body == track and body["spotify_url"].endswith(body["spotify_id"])
    assert_error(client.get("/api/v1/tracks/99999999"), 404, "not_found")
    assert_error(client.get("/api/v1/tracks/abc"), 422, "validation_error")


def test_bad_search_parameters(client: TestClient) -> None:
    assert_error(client.get("/api/v1/tracks", params={"limit": 500}), 422, "validation_error")
    assert_error(client.get("/api/v1/tracks", params={"genre": "polka"}), 404, "not_found")


def test_genres_with_counts_largest_first(client: TestClient) -> None:
    genres = client.get("/api/v1/genres").json()
    counts = [g["tracks"] for g in genres]
    assert {"rock", "jazz", "ambient"} <= {g["name"] for g in genres} and counts == sorted(
        counts, reverse=True
    )


def test_probes_and_docs(client: TestClient) -> None:
    assert client.get("/api/v1/healthz").json() == {"status": "ok"}
    ready = client.get("/api/v1/readyz").json()
    assert ready["status"] == "ready" and ready["catalog"]["tracks"] == 1500
    assert client.get("/docs").status_code == 200
    assert "/api/v1/recommendations" in client.get("/openapi.json").json()["paths"]


def test_metrics_count_requests_per_route_and_recommendations(client: TestClient) -> None:
    client.post("/api/v1/recommendations", json={"emotion": "sad", "strategy": "calm"})
    text = client.get("/metrics").text
    assert (
        'moodtune_http_requests_total{method="POST",route="/api/v1/recommendations",status="200"}'
        in text
    )
    assert 'moodtune_recommendations_total{strategy="calm"}' in text
    assert "moodtune_catalog_tracks 1500.0" in text
    assert "moodtune_http_request_duration_seconds_bucket" in text


def test_metrics_describe_errors_photos_and_state(client: TestClient) -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    client.get("/api/v1/tracks/999999999")  # 404 not_found
    client.post("/api/v1/recommendations", json={"emotion": "bored"})  # 422 validation_error
    for name in ("astronaut.jpg", "coffee.jpg"):  # one face; none
        client.post("/api/v1/emotions", files={"image": (name, (fixtures / name).read_bytes())})
    text = client.get("/metrics").text
    assert 'moodtune_errors_total{code="not_found"}' in text
    assert 'moodtune_errors_total{code="validation_error"}' in text
    assert 'moodtune_errors_total{code="no_face"}' in text
    assert 'moodtune_photo_analyses_total{outcome="faces"} 1.0' in text
    assert 'moodtune_photo_analyses_total{outcome="no_face"} 1.0' in text
    assert "moodtune_photo_analysis_seconds_count 2.0" in text
    ready = client.get("/api/v1/readyz").json()["snapshot"]
    assert f'moodtune_snapshot_info{{key="{ready["key"]}",origin="{ready["origin"]}"}} 1.0' in text
    assert "moodtune_database_up 1.0" in text and "moodtune_ready 1.0" in text
    assert "moodtune_library_tracks 0.0" in text
    assert "moodtune_catalog_placeable_tracks 1500.0" in text


def test_unknown_route_and_wrong_method_use_the_envelope(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(client.delete("/api/v1/genres"), 405, "method_not_allowed")


def test_server_picks_up_an_import_made_by_another_process(
    client: TestClient, catalog_db: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import time

    from moodtune.catalog.db import create_db_engine, make_session_factory
    from moodtune.catalog.importers import import_catalog

    header = "track_id,track_name,artists,valence,energy,tempo,mode,track_genre\n"
    rows = "".join(f"{i:022d},Swamp {i},Band {i},0.8,0.7,120,1,zydeco\n" for i in range(3))
    path = tmp_path / "more.csv"
    path.write_text(header + rows)
    assert_error(
        client.post("/api/v1/recommendations", json={"emotion": "happy", "genres": ["zydeco"]}),
        400,
        "invalid_input",
    )
    engine = create_db_engine(catalog_db)
    import_catalog(
        path, session_factory=make_session_factory(engine)
    )  # as `moodtune catalog import` would
    engine.dispose()
    deadline = time.monotonic() + 30
    while True:  # the index rebuilds in the background after its next version check
        response = client.post(
            "/api/v1/recommendations", json={"emotion": "happy", "genres": ["zydeco"], "n": 3}
        )
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.status_code == 200
    assert sorted(t["title"] for t in response.json()["tracks"]) == [
        "Swamp 0",
        "Swamp 1",
        "Swamp 2",
    ]
