"""Prometheus metrics: requests, tokens, cost, latency, queue depth (own registry per gateway, served
at every app's ``/metrics`` after the process's registry: the service names it in its ``ServiceSpec``)."""

from __future__ import annotations

from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "verdicts_inference_requests",
            "Generation requests by route and outcome",
            ["route", "outcome"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "verdicts_inference_tokens",
            "Tokens by route and direction",
            ["route", "direction"],
            registry=self.registry,
        )
        self.cost = Counter(
            "verdicts_inference_cost_usd",
            "What generation cost in US dollars, by route (the route's prices)",
            ["route"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "verdicts_inference_latency_seconds",
            "Latency of generation requests",
            ["route"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "verdicts_inference_queue_depth",
            "Requests waiting for a backend slot",
            ["route"],
            registry=self.registry,
        )

    def observe(
        self,
        route: str,
        outcome: str,
        tokens_in: int,
        tokens_out: int,
        seconds: float,
        cost_usd: Decimal | float = 0,
    ) -> None:
        self.requests.labels(route, outcome).inc()
        self.cost.labels(route).inc(float(cost_usd))
        self.tokens.labels(route, "in").inc(tokens_in)
        self.tokens.labels(route, "out").inc(tokens_out)
        self.latency.labels(route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
