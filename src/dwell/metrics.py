"""Prometheus metrics of the service (served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_SECONDS = Histogram(
    "dwell_request_seconds", "HTTP request latency by route.", ["method", "route", "status"],
    registry=REGISTRY, buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UPLOADS = Counter("dwell_uploads_total", "Uploads by final status.", ["status"], registry=REGISTRY)
ROWS_INGESTED = Counter("dwell_rows_ingested_total", "Data rows read from uploads.",
                        registry=REGISTRY)
QUEUE_DEPTH = Gauge("dwell_queue_depth", "Uploads waiting or processing.", registry=REGISTRY)
CACHE_RESULTS = Counter("dwell_cache_total", "Analytics cache lookups.", ["result"],
                        registry=REGISTRY)


def record_cache(name: str, hit: bool) -> None:
    CACHE_RESULTS.labels(result="hit" if hit else "miss").inc()
