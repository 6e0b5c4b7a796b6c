"""`rewardkit serve --model M [--host 127.0.0.1 --port 8000]`: a reward model behind HTTP.

    POST /score  {"conversations": [[{"role": "user", "content": "..."}, {"role": "assistant", ...}], ...]}
              -> {"scores": [float, ...], "truncated": int}
    GET  /health -> {"status": "ok", "model": "..."}

`create_app(scorer)` takes any loaded `rewardkit.models.scoring.RewardModel`, so tests and other programs can
mount it without loading from disk. Requests are scored one at a time (a lock): the model is shared and
a single CPU forward already uses every core.
"""

from __future__ import annotations

import threading
from typing import Literal

from pydantic import BaseModel, Field


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ScoreRequest(BaseModel):
    conversations: list[list[ChatMessage]] = Field(min_length=1)
    """Each conversation ends with the message being rated (normally the assistant's)."""
    max_length: int | None = None
    """Tokens per conversation; longer ones are cut (prompt from the left) and counted in `truncated`."""


class ScoreResponse(BaseModel):
    scores: list[float]
    truncated: int


def create_app(scorer, *, name: str = "reward-model"):
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="rewardkit", description="Reward model scores for conversations.")
    lock = threading.Lock()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": name}

    @app.post("/score", response_model=ScoreResponse)
    def score(req: ScoreRequest) -> ScoreResponse:
        convs = [[m.model_dump() for m in c] for c in req.conversations]
        if any(not c for c in convs):
            raise HTTPException(status_code=422, detail="every conversation needs at least one message")
        with lock:
            scores = scorer.score(convs, max_length=req.max_length, progress=False)
            truncated = scorer.truncated
        return ScoreResponse(scores=scores, truncated=truncated)

    return app


def serve(model: str, *, host: str = "127.0.0.1", port: int = 8000, dtype: str = "bfloat16", seed: int = 0) -> None:
    import uvicorn

    from rewardkit.models.scoring import RewardModel

    uvicorn.run(create_app(RewardModel.load(model, dtype=dtype, seed=seed), name=model), host=host, port=port)
