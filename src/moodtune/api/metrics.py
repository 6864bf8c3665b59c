"""Prometheus metrics: requests and latencies per route, recommendations served, catalog size.

Each app gets its own registry, so several apps in one process (tests) do not collide.
"""

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "MetricsMiddleware"]


class Metrics:
    def __init__(self, catalog_size: Callable[[], float]) -> None:
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
        self.catalog_tracks = Gauge(
            "moodtune_catalog_tracks", "Tracks in the catalog database.", registry=self.registry
        )
        self.catalog_tracks.set_function(catalog_size)


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
