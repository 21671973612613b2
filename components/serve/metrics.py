"""Prometheus metrics in a per-app registry (so several apps in one process never collide)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


@dataclass
class ServeMetrics:
    """Request counts, latency histograms, inference timings and the models in service."""

    registry: Any
    requests: Any
    latency: Any
    in_flight: Any
    inference: Any
    model_info: Any
    model_loaded: Any
    model_swaps: Any

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_model(self, kind: str, name: str, version: str, uri: str) -> None:
        """Record the model of ``kind`` now in service."""
        self.model_info.labels(kind).info({"name": name, "version": version, "uri": uri})
        self.model_loaded.labels(kind).set(1)

    def render(self) -> bytes:
        """The text exposition of every metric of this app."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


def create_metrics() -> ServeMetrics:
    """A fresh registry with every serve metric registered in it."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

    registry = CollectorRegistry(auto_describe=True)
    return ServeMetrics(
        registry=registry,
        requests=Counter(
            "nolabel_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        ),
        latency=Histogram(
            "nolabel_http_request_duration_seconds",
            "Server-side HTTP request latency.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        in_flight=Gauge(
            "nolabel_http_requests_in_flight", "Requests being served now.", registry=registry
        ),
        inference=Histogram(
            "nolabel_inference_duration_seconds",
            "Time spent in model calls, by kind (classifier, detector, explain).",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        model_info=Info(
            "nolabel_model",
            "Name, version and URI of the model in service.",
            ["kind"],
            registry=registry,
        ),  # fmt: skip
        model_loaded=Gauge(
            "nolabel_model_loaded",
            "1 when a model of this kind is loaded.",
            ["kind"],
            registry=registry,
        ),  # fmt: skip
        model_swaps=Counter(
            "nolabel_model_swaps",
            "Models put in service (initial load and hot swaps).",
            ["kind"],
            registry=registry,
        ),  # fmt: skip
    )
