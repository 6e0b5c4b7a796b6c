"""`rewardkit serve`'s settings: one typed model, from which the command-line options come.

    from rewardkit.serving.config import ServeConfig
    cfg = ServeConfig(model="minilm", dtype="float32", wait_fraction=0.2)
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from pydantic import Field, model_validator

from rewardkit.errors import UserError
from rewardkit.options import DEFAULT_MODEL, ScoringOptions
from rewardkit.recipe import with_default

API_KEY_ENV = "REWARDKIT_API_KEY"
"""The environment variable read for the API key when --api-key is not given (keeps it out of `ps`)."""


class ServeConfig(ScoringOptions):
    """`rewardkit serve`: the model, where it listens, how it batches and what it refuses (dtype, seed,
    max_length and batch_tokens are the shared scoring options; batch_tokens also caps one dynamic batch)."""

    model: str = DEFAULT_MODEL
    """Alias (smollm2, minilm), HF dir/id or .gguf file."""
    host: str = "127.0.0.1"
    """Interface to bind. Loopback by default: reaching the server from elsewhere is an explicit choice."""
    port: int = Field(8000, ge=1, le=65535)
    """TCP port."""
    pad_to_multiple: int = with_default(ScoringOptions, "pad_to_multiple", 32)
    """A server's batches are whatever clients sent together, so nearly every one comes in a new (rows, length)
    shape, and each new shape costs a kernel build on CPUs: over 300 random batch shapes, rounding lengths up to
    32 took ~20% less model time per real token, padding included (MiniLM, bf16; BENCHMARKS.md "Serving")."""
    batch_overhead_tokens: int = Field(512, ge=0)
    """The cost of one more forward pass, in padded tokens. A batch of mixed lengths is split by length where
    the padding saved exceeds it (rewardkit.data.batching.plan_min_padding). On CPU a pass of a few rows runs
    at a fraction of a full one's tokens/s, so splitting costs more than its fixed ~10 ms: replaying a
    server's batches of 24 (MiniLM, bf16) took 1.87x offline's model time at 0, 1.19x at 256, 1.04x at 512,
    1.06x at 1024, 1.35x at 2048 and 1.31x never split. On a GPU, where a pass has a larger fixed cost, use
    thousands."""
    wait_fraction: float = Field(0.1, ge=0)
    """How long the model worker waits for more requests before scoring a batch under the token budget, as a
    fraction of the previous forward's time (rewardkit.serving.batcher: under load, clients just answered
    send again within it, so batches grow to about the number of clients instead of half). 0: never wait."""
    max_wait_ms: float = Field(50.0, ge=0)
    """The longest that wait may be, and the wait before the first forward. A fixed window: wait_fraction 1e9."""
    max_queue: int = Field(4096, ge=1)
    """Conversations waiting to be scored; past it requests get 503 with Retry-After, so memory stays flat."""
    max_conversations: int = Field(512, ge=1)
    """Conversations (or OpenRLHF query texts) in one request; more is refused with 413."""
    max_message_chars: int = Field(200_000, ge=1)
    """Characters in one message or query text; more is refused with 422."""
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1)
    """Request body size; a larger body is refused with 413 before it is read."""
    request_timeout_s: float = Field(60.0, gt=0)
    """Seconds a request may wait for its scores; then it is answered 504 and dropped from the queue."""
    api_key: str | None = None
    """Require this key (Authorization: Bearer KEY or X-API-Key: KEY) on every route but /health and /ready;
    printable ASCII without spaces (a header carries it). Default: the REWARDKIT_API_KEY environment variable;
    no key at all leaves the server open. An empty key, given or set, is refused: it looks like auth and is none."""
    access_log: bool = True
    """One JSON line per request on stderr (method, path, status, milliseconds, client)."""
    kernel_cache_capacity: int = Field(64, ge=1)
    """Compiled CPU kernels kept per cache (oneDNN's primitive cache and torch's ideep cache: one kernel
    per matrix shape, 1,024 each by default). A server's batches come in many (batch, length) shapes, and
    full default caches cost ~1 GB of resident memory; set before torch starts (ONEDNN_PRIMITIVE_CACHE_CAPACITY
    and LRU_CACHE_CAPACITY in the environment take precedence)."""

    @model_validator(mode="after")
    def _consistent(self) -> ServeConfig:
        if self.max_conversations > self.max_queue:
            raise ValueError(f"max_conversations ({self.max_conversations}) exceeds max_queue ({self.max_queue}): "
                             "such a request could never be queued")
        return self

    def resolved_api_key(self, environ) -> str | None:
        """The key in force: --api-key, else the environment variable, else None (open); a key that no
        request could send (empty, non-ASCII, spaces) is refused here, before the server starts."""
        if self.api_key is not None:
            return check_api_key_value(self.api_key, "--api-key")
        if API_KEY_ENV in environ:
            return check_api_key_value(environ[API_KEY_ENV], API_KEY_ENV)
        return None

    def auth_line(self, environ) -> str:
        """What the server says at start about its API key."""
        source = "--api-key" if self.api_key is not None else API_KEY_ENV
        if self.resolved_api_key(environ) is None:
            return f"API key: none (no --api-key, no {API_KEY_ENV}): every route is open to whoever reaches {self.host}"
        return f"API key: required on every route but /health and /ready (from {source})"


def check_api_key_value(key: str, where: str) -> str:
    """`key` if a client can send it in a header: non-empty printable ASCII without whitespace."""
    if not key:
        raise UserError(f"{where}: the API key is empty; give a key, or unset it to serve without one")
    if not (key.isascii() and key.isprintable()) or any(c.isspace() for c in key):
        raise UserError(f"{where}: the API key must be printable ASCII without spaces (an HTTP header carries it)")
    return key


KERNEL_CACHE_VARS = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")


def bound_kernel_caches(capacity: int, environ: MutableMapping[str, str] = os.environ) -> None:
    """Cap oneDNN's and ideep's per-shape kernel caches unless the environment already sets them. They read
    the variables when they build their first kernel, so this runs before the model is loaded."""
    for var in KERNEL_CACHE_VARS:
        environ.setdefault(var, str(capacity))
