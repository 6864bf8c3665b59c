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


def test_unknown_route_and_wrong_method_use_the_envelope(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(client.delete("/api/v1/genres"), 405, "method_not_allowed")
