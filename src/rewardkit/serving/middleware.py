"""The ASGI layer in front of every route: API key, body-size header check, metrics, access log.

A plain ASGI middleware rather than FastAPI's `@app.middleware("http")`, which wraps every request in an
extra task and costs throughput; it answers 401/413 itself before a route reads any of the body.
"""

from __future__ import annotations

import json
import logging
import time

from rewardkit.serving.limits import ApiError, check_api_key, check_content_length
from rewardkit.serving.metrics import Metrics

OPEN_PATHS = frozenset({"/health", "/ready"})
"""Routes answered without the API key: liveness and readiness probes rarely carry secrets."""
SCORING = frozenset({"/score", "/get_reward"})
ROUTES = SCORING | {"/health", "/ready", "/metrics"}
access_log = logging.getLogger("rewardkit.serving.access")


async def send_error(send, err: ApiError) -> None:
    body = json.dumps({"detail": err.detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    def __init__(self, app, *, api_key: str | None, max_body_bytes: int, metrics: Metrics, log: bool):
        self.app, self.api_key, self.max_body, self.metrics, self.log = app, api_key, max_body_bytes, metrics, log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500
        path = scope["path"]

        async def send_and_record(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        scoring = path in SCORING
        if scoring:
            self.metrics.in_flight.inc()
        try:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            if path not in OPEN_PATHS:
                check_api_key(headers, self.api_key)
            check_content_length(headers.get("content-length"), self.max_body)
        except ApiError as err:
            await send_error(send_and_record, err)
        else:
            await self.app(scope, receive, send_and_record)
        finally:
            if scoring:
                self.metrics.in_flight.dec()
            self._record(scope, path, status, time.perf_counter() - start)

    def _record(self, scope, path: str, status: int, seconds: float) -> None:
        route = path if path in ROUTES else "other"  # bounded label values, whatever paths clients try
        self.metrics.on_request(route, status, seconds)
        if self.log and access_log.isEnabledFor(logging.INFO):
            client = scope.get("client")
            access_log.info(json.dumps({
                "ts": round(time.time(), 3), "method": scope["method"], "path": path, "status": status,
                "ms": round(seconds * 1000, 2), "client": f"{client[0]}:{client[1]}" if client else None}))
