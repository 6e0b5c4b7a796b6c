"""`rewardkit serve --model M [--host 127.0.0.1 --port 8000 --api-key K]`: a reward model behind HTTP.

    POST /score       {"conversations": [[{"role": "user", "content": "..."}, {"role": "assistant", ...}], ...],
                       "max_length": optional int}  -> {"scores": [float, ...], "truncated": int}
    POST /get_reward  OpenRLHF's remote reward model: {"query": [chat-templated text, ...]}
                       -> {"rewards": [float, ...], "scores": [float, ...]}
    GET  /health      alive (no key needed)      GET /ready  model loaded (no key needed; 503 until then)
    GET  /metrics     Prometheus text format

Requests from all clients are batched together by one model worker (serving/batcher.py); limits and
their 4xx answers are in serving/limits.py; docs/serving.md covers operations and vLLM.
`create_app(config, scorer)` mounts an already loaded `RewardModel` (tests, other programs); without one,
the model loads in the background after the port opens, so /health answers during a slow load.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from rewardkit.serving.config import ServeConfig
from rewardkit.serving.limits import ApiError, parse_json, parse_reward_request, parse_score_request
from rewardkit.serving.metrics import Metrics
from rewardkit.serving.middleware import Guard, access_log
from rewardkit.serving.runtime import Runtime
from rewardkit.errors import check_port_free
from rewardkit.evaluation.checks import check_max_length
from rewardkit.models.tokenizers import load_tokenizer

log = logging.getLogger("rewardkit.serving")


def create_app(config: ServeConfig | None = None, scorer=None, *, environ=os.environ) -> FastAPI:
    config = config or ServeConfig()
    metrics = Metrics()
    runtime = Runtime(config, metrics, scorer)
    if scorer is not None:
        runtime.load()  # a loaded model: ready at once, even where no lifespan runs (a TestClient without `with`)

    @asynccontextmanager
    async def lifespan(app):
        if not runtime.ready:
            threading.Thread(target=_load_logged, args=(runtime,), name="rewardkit-load", daemon=True).start()
        yield
        runtime.close()  # after uvicorn has answered in-flight requests: the queue is drained, then stopped

    app = FastAPI(title="rewardkit", description="Reward-model scores for conversations.", lifespan=lifespan)
    app.state.runtime = runtime
    _routes(app, runtime, metrics)
    _errors(app)
    app.add_middleware(Guard, api_key=config.resolved_api_key(environ), max_body_bytes=config.max_body_bytes,
                       metrics=metrics, log=config.access_log)
    return app


def _load_logged(runtime: Runtime) -> None:
    try:
        runtime.load()
    except Exception:
        log.exception("model load failed; /ready answers 503 with the reason")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (a chunked upload has no Content-Length)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body exceeds max_body_bytes={limit}")
        chunks.append(chunk)
    return b"".join(chunks)


def _routes(app: FastAPI, runtime: Runtime, metrics: Metrics) -> None:
    @app.post("/score")
    async def score(request: Request) -> JSONResponse:
        limits = runtime.require_ready()
        payload = parse_json(await read_body(request, limits.max_body_bytes))
        convs, max_length = parse_score_request(payload, limits)
        scores, truncated = await runtime.score_conversations(convs, max_length)
        return JSONResponse({"scores": scores, "truncated": truncated})

    @app.post("/get_reward")
    async def get_reward(request: Request) -> JSONResponse:
        limits = runtime.require_ready()
        texts = parse_reward_request(parse_json(await read_body(request, limits.max_body_bytes)), limits)
        scores = await runtime.score_texts(texts)
        return JSONResponse({"rewards": scores, "scores": scores})

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready")
    def ready() -> JSONResponse:
        if runtime.ready:
            return JSONResponse({"status": "ready", "model": runtime.config.model})
        state = "failed: " + runtime.load_error if runtime.load_error else "loading"
        return JSONResponse({"status": state}, status_code=503)

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        return JSONResponse({"detail": err.detail}, status_code=err.status, headers=err.headers)

    @app.exception_handler(Exception)
    async def server_error(request: Request, err: Exception) -> JSONResponse:  # a bug or a model failure
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"detail": f"internal error: {type(err).__name__}"}, status_code=500)


def serve(config: ServeConfig) -> None:
    """Run the server until SIGINT/SIGTERM; on either, in-flight requests are answered before exit.
    A busy port or a missing model fails here, in a second, before anything listens."""
    import uvicorn

    from rewardkit.models.loading import resolve

    auth = config.auth_line(os.environ)  # refuses an unusable key
    check_port_free(config.host, config.port)
    resolve(config.model)  # an alias or .gguf is prepared once here; the background load reuses it
    if config.max_length is not None:  # the tokenizer alone, in a second: the model loads after the port opens
        check_max_length(load_tokenizer(config.model), config.max_length)
    print(f"rewardkit serve: {auth}", file=sys.stderr, flush=True)

    if config.access_log:
        access_log.setLevel(logging.INFO)
        if not access_log.handlers:
            access_log.addHandler(logging.StreamHandler())
    uvicorn.run(create_app(config), host=config.host, port=config.port, access_log=False,
                timeout_graceful_shutdown=int(config.request_timeout_s) + 5)
