"""Prometheus metrics: requests and latencies per route, errors by code, recommendations by
strategy, photo analyses by outcome and their latency, the database's and the catalog's state,
library size. ``deploy/grafana/moodtune.json`` and ``deploy/prometheus/alerts.yml`` read them.

Each app gets its own registry, so several apps in one process (tests) do not collide. Values
that describe state (catalog, snapshot, database, library) are read when Prometheus scrapes.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "MetricsMiddleware"]


@dataclass(frozen=True)
class StateProbes:
    """How to read the process's state at scrape time."""

    catalog_tracks: Callable[[], float]
    placeable_tracks: Callable[[], float]
    library_tracks: Callable[[], float]  # grows file by file while a library import runs
    database_up: Callable[[], float]
    ready: Callable[[], float]
    snapshot: Callable[[], tuple[str, str] | None]  # (key, origin) of the snapshot in use


class Metrics:
    def __init__(self, probes: StateProbes) -> None:
        self.probes = probes
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "moodtune_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "moodtune_http_request_duration_seconds",
            "Time to answer, by route template and method.",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.recommendations = Counter(
            "moodtune_recommendations_total",
            "Playlists served, by strategy.",
            ["strategy"],
            registry=self.registry,
        )
        self.errors = Counter(
            "moodtune_errors_total",
            "Error answers by their error code (the body's error.code).",
            ["code"],
            registry=self.registry,
        )
        self.photo_analyses = Counter(
            "moodtune_photo_analyses_total",
            "Photos analysed, by outcome: faces (at least one) or no_face.",
            ["outcome"],
            registry=self.registry,
        )
        self.photo_seconds = Histogram(
            "moodtune_photo_analysis_seconds",
            "Time to find the faces of one photo and read their emotions.",
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.snapshot = Gauge(
            "moodtune_snapshot_info",
            "The catalog snapshot this process ranks with (1), by key and origin.",
            ["key", "origin"],
            registry=self.registry,
        )
        for name, doc, probe in (
            ("moodtune_catalog_tracks", "Tracks in the catalog database.", probes.catalog_tracks),
            ("moodtune_catalog_placeable_tracks", "Tracks the ranker can place (in the snapshot).",
             probes.placeable_tracks),
            ("moodtune_library_tracks", "Tracks from music libraries; grows during an import.",
             probes.library_tracks),
            ("moodtune_database_up", "1 while the database answers, 0 during an outage.",
             probes.database_up),
            ("moodtune_ready", "1 when the database answers and a snapshot is loaded.",
             probes.ready),
        ):  # fmt: skip
            Gauge(name, doc, registry=self.registry).set_function(probe)

    def refresh_snapshot(self) -> None:
        """Label the snapshot in use (one series; the previous one is dropped)."""
        current = self.probes.snapshot()
        self.snapshot.clear()
        if current is not None:
            self.snapshot.labels(*current).set(1)


class MetricsMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware) so streaming responses stay streaming."""

    def __init__(self, app: ASGIApp, metrics: Metrics, prefix: str = "") -> None:
        self.app = app
        self.metrics = metrics
        self.prefix = prefix  # routers included with a prefix report their path without it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            if (
                route is not None
                and scope["path"].startswith(self.prefix)
                and not template.startswith(self.prefix)
            ):
                template = self.prefix + template
            method = scope["method"]
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - started)
