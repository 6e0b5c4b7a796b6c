"""Load and bad input for benchmarks/serving.py, on 127.0.0.1 only.

A minimal HTTP/1.1 keep-alive client on asyncio streams: a load generator sharing the server's two cores
should cost as little CPU as possible, so it does not parse more than the status line, Content-Length
and the body.
"""

from __future__ import annotations

import asyncio
import json
import time

HOST = "127.0.0.1"


class Conn:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection(HOST, port, limit=2**20))

    def close(self) -> None:
        self.writer.close()

    def send_head(self, method: str, path: str, key: str | None, length: int | None, extra: str = "") -> None:
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
        head += f"X-API-Key: {key}\r\n" if key is not None else ""
        self.writer.write((head + extra + "\r\n").encode("latin-1"))

    async def response(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length:"))
        return status, await self.reader.readexactly(length)

    async def request(self, method: str, path: str, body: bytes = b"", key: str | None = None) -> tuple[int, bytes]:
        self.send_head(method, path, key, len(body))
        self.writer.write(body)
        return await self.response()


async def run_load(port: int, bodies: list[bytes], clients: int, key: str, seconds: float | None = None) -> dict:
    """`clients` connections send `bodies` (each once, or cycling for `seconds`); latencies and errors."""
    latencies: list[float] = []
    errors = 0
    next_i = 0
    stop = time.monotonic() + seconds if seconds else None

    async def client():
        nonlocal next_i, errors
        conn = await Conn.open(port)
        while (next_i < len(bodies)) if stop is None else (time.monotonic() < stop):
            body = bodies[next_i % len(bodies)]
            next_i += 1
            t = time.perf_counter()
            status, _ = await conn.request("POST", "/score", body, key)
            latencies.append(time.perf_counter() - t)
            errors += status != 200
        conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {"latencies": latencies, "errors": errors, "wall": time.perf_counter() - start, "count": len(latencies)}


def _conv(role: str = "user", content="hi") -> list[dict]:
    return [{"role": role, "content": content}, {"role": "assistant", "content": "hello"}]


BAD_BODIES = [
    ("invalid JSON", "/score", b'{"conversations": [[{"role": "user", "content": "hi"}'),
    ("JSON nested 100,000 deep", "/score", b"[" * 100_000),
    ("not an object", "/score", b'"hello"'),
    ("wrong role", "/score", json.dumps({"conversations": [_conv("robot")]}).encode()),
    ("empty conversations", "/score", b'{"conversations": []}'),
    ("empty conversation", "/score", b'{"conversations": [[]]}'),
    ("content not a string", "/score", json.dumps({"conversations": [_conv(content=5)]}).encode()),
    ("unknown field", "/score", b'{"conversation": []}'),
    ("invalid UTF-8", "/score", b'{"conversations": [[{"role": "user", "content": "\xff\xfe"}]]}'),
    ("max_length -1", "/score", json.dumps({"conversations": [_conv()], "max_length": -1}).encode()),
    ("1M-character message", "/score", json.dumps({"conversations": [_conv(content="a" * 1_000_000)]}).encode()),
    ("100K conversations in one request", "/score", json.dumps({"conversations": [_conv()] * 100_000}).encode()),
    ("get_reward: query of numbers", "/get_reward", b'{"query": [1, 2]}'),
]


async def barrage(port: int, key: str) -> list[tuple[str, int, str]]:
    """(input, status, detail) for each bad request; every one on a fresh connection."""
    out = []
    for name, path, body in BAD_BODIES:
        out.append((name, *await _one(port, "POST", path, body, key)))
    ok = json.dumps({"conversations": [_conv()]}).encode()
    out.append(("missing API key", *await _one(port, "POST", "/score", ok, None)))
    out.append(("wrong API key", *await _one(port, "POST", "/score", ok, "not-the-key")))
    out.append(("GET /score", *await _one(port, "GET", "/score", b"", key)))
    out.append(("50 MB body (Content-Length)", *await _huge(port, key, chunked=False)))
    out.append(("50 MB body (chunked, no length)", *await _huge(port, key, chunked=True)))
    return out


async def _one(port: int, method: str, path: str, body: bytes, key: str | None) -> tuple[int, str]:
    conn = await Conn.open(port)
    try:
        status, raw = await conn.request(method, path, body, key)
    finally:
        conn.close()
    return status, _detail(raw)


def _detail(raw: bytes) -> str:
    try:
        return str(json.loads(raw).get("detail"))
    except (ValueError, AttributeError):
        return raw[:100].decode("utf-8", "replace")


async def _huge(port: int, key: str, chunked: bool, size: int = 50 * 2**20) -> tuple[int, str]:
    """Stream `size` bytes while waiting for the answer; stop sending once it comes."""
    conn = await Conn.open(port)
    conn.send_head("POST", "/score", key, None if chunked else size)
    piece = b"[" + b" " * (2**20 - 1)

    async def send():
        for _ in range(size // len(piece)):
            conn.writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
            await conn.writer.drain()

    sender = asyncio.create_task(send())
    try:
        status, raw = await asyncio.wait_for(conn.response(), 120)
    finally:
        sender.cancel()
        conn.close()
    return status, _detail(raw)
