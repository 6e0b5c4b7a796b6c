"""Prometheus metrics for one server (GET /metrics), in a registry of its own.

A registry per app rather than prometheus_client's global one: nothing is registered at import time,
and two apps in one process (tests) do not collide. Tokens/s is `rate(rewardkit_tokens_total[1m])`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = r = CollectorRegistry()
        self.requests = Counter("rewardkit_requests", "HTTP requests by route and status.",
                                ["route", "status"], registry=r)
        self.latency = Histogram("rewardkit_request_seconds", "Request latency, receipt to answer.",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("rewardkit_scoring_in_flight", "Scoring requests received and not yet answered.",
                               registry=r)
        self.queue = Gauge("rewardkit_queue_conversations", "Conversations waiting for the model.", registry=r)
        self.batch = Histogram("rewardkit_batch_conversations", "Conversations per model batch.",
                               buckets=BATCH_BUCKETS, registry=r)
        self.tokens = Counter("rewardkit_tokens", "Tokens scored.", registry=r)
        self.forward = Histogram("rewardkit_batch_seconds", "Model time per batch.", buckets=LATENCY_BUCKETS,
                                 registry=r)

    def on_batch(self, conversations: int, tokens: int, seconds: float) -> None:
        self.batch.observe(conversations)
        self.tokens.inc(tokens)
        self.forward.observe(seconds)

    def on_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
