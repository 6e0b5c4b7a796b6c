"""flock /tmp/rk-heavy.lock python benchmarks/serving.py [--requests 2000] [--clients 32] [--repeats 3] [--soak-minutes 10]

`rewardkit serve` under load on loopback (127.0.0.1 only), per model (SmolLM2, MiniLM):

  offline   RewardModel.score over the request conversations in this process (same dtype, max_length,
            batch_tokens as the server), the ceiling a server can approach
  server    `rewardkit serve` in its own process; --clients concurrent keep-alive connections send
            --requests POST /score requests of one conversation each; wall time, p50/p99 latency, errors

Throughput share = server conversations/s over offline conversations/s, measured side by side in this
run (each after an untimed warm-up pass, which also builds oneDNN's per-shape kernels). Then, on the
last model: a bad-input barrage (every answer's status and message), a correctness check afterwards
(each conversation alone through the server == offline score of it alone), and the server's resident
memory sampled over a --soak-minutes soak under the same load. Conversations: the shared RewardBench
rows (chosen and rejected), a seeded sample of --distinct, cycled to --requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving_load import Conn, barrage, run_load  # noqa: E402

from rewardkit.data.sources import read_pairs  # noqa: E402
from rewardkit.models.scoring import RewardModel  # noqa: E402
from rewardkit.serving.config import ServeConfig  # noqa: E402

RB500 = Path(__file__).resolve().parents[1].parent / "shared/data/rewardbench-filtered-first500/reward_bench_filtered_sample.jsonl"
KEY = "bench-key"


def conversations(distinct: int, total: int) -> list[list[dict]]:
    pairs, _ = read_pairs(f"rewardbench:{RB500}")
    convs = [c for p in pairs for c in (p.chosen_conversation(), p.rejected_conversation())]
    sample = random.Random(0).sample(convs, distinct)  # the first `distinct` of the result are all different
    return [sample[i % distinct] for i in range(total)]


def offline_rate(rm: RewardModel, convs, args) -> float:
    t = time.perf_counter()
    rm.score(convs, max_length=args.max_length, batch_tokens=args.batch_tokens, progress=False)
    return len(convs) / (time.perf_counter() - t)


def start_server(model: str, port: int, args) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rewardkit.cli", "serve", "--model", model, "--port", str(port), "--dtype", args.dtype,
           "--max-length", str(args.max_length), "--batch-tokens", str(args.batch_tokens), "--no-access-log",
           "--max-wait-ms", str(args.max_wait_ms), "--wait-fraction", str(args.wait_fraction),
           "--kernel-cache-capacity", str(args.kernel_cache_capacity),
           "--pad-to-multiple", str(args.pad_to_multiple)]
    proc = subprocess.Popen(cmd, env={**os.environ, "REWARDKIT_API_KEY": KEY}, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900  # imports + load take minutes on a saturated machine
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if asyncio.run(_ready(port)):
                return proc
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("server not ready in 900 s")


async def _metrics(port: int) -> dict[str, float]:
    conn = await Conn.open(port)
    try:
        text = (await conn.request("GET", "/metrics", key=KEY))[1].decode()
    finally:
        conn.close()
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
            if line.startswith(("rewardkit_batch_conversations_", "rewardkit_batch_seconds_", "rewardkit_tokens_total"))}


async def _ready(port: int) -> bool:
    conn = await Conn.open(port)
    try:
        return (await conn.request("GET", "/ready"))[0] == 200
    finally:
        conn.close()


def bodies_of(convs) -> list[bytes]:
    return [json.dumps({"conversations": [c]}).encode() for c in convs]


def measure(model: str, convs, port: int, args) -> dict:
    """--repeats rounds of offline then the server, side by side (the machine's load drifts, so each round's
    share is its server rate over the offline rate measured next to it; the row gives medians). Each side
    first scores the distinct conversations once, untimed: oneDNN builds a kernel per new shape."""
    rm = RewardModel.load(model, dtype=args.dtype, seed=0)
    distinct = convs[: args.distinct]
    rm.score(distinct, max_length=args.max_length, batch_tokens=args.batch_tokens, progress=False)
    proc = start_server(model, port, args)
    rounds = []
    try:
        bodies = bodies_of(convs)
        asyncio.run(run_load(port, bodies[: args.distinct], args.clients, KEY))  # warm-up
        for _ in range(args.repeats):
            offline = offline_rate(rm, convs, args)
            before = asyncio.run(_metrics(port))
            res = asyncio.run(run_load(port, bodies, args.clients, KEY))
            after = asyncio.run(_metrics(port))
            rounds.append(round_row(offline, res, before, after, len(convs)))
            r = rounds[-1]
            print(f"  round {len(rounds)}: offline {r['offline']:.1f} conv/s, server {r['server']:.1f} conv/s "
                  f"({100 * r['share']:.0f}%), busy {100 * r['busy']:.0f}%, {r['batch']:.1f} conv/batch, "
                  f"model time {r['model_vs_offline']:.2f}x offline's, {r['ms_per_ktok']:.1f} ms per 1k tokens",
                  file=sys.stderr, flush=True)
    except BaseException:
        proc.kill()
        raise
    row = {k: statistics.median(r[k] for r in rounds) for k in rounds[0] if k != "errors"}
    row.update(model=model, n=len(convs), errors=sum(r["errors"] for r in rounds),
               shares=[r["share"] for r in rounds])
    return {"row": row, "proc": proc, "rm": rm}


def round_row(offline: float, res: dict, before: dict, after: dict, n: int) -> dict:
    lat = sorted(res["latencies"])
    delta = {k: after[k] - before.get(k, 0) for k in after}
    server = n / res["wall"]
    return {"offline": offline, "server": server, "share": server / offline, "errors": res["errors"],
            "p50": lat[len(lat) // 2], "p99": lat[int(0.99 * (len(lat) - 1))],
            "batch": delta["rewardkit_batch_conversations_sum"] / delta["rewardkit_batch_conversations_count"],
            "busy": delta["rewardkit_batch_seconds_sum"] / res["wall"],
            # the server's model seconds over offline's for the same conversations: > 1 means its forwards
            # themselves are slower (smaller, more padded batches), not that the worker waits
            "model_vs_offline": delta["rewardkit_batch_seconds_sum"] / (n / offline),
            "ms_per_ktok": 1000 * 1000 * delta["rewardkit_batch_seconds_sum"] / delta["rewardkit_tokens_total"]}


def print_row(r: dict, clients: int) -> None:
    shares = " / ".join(f"{100 * s:.0f}" for s in r["shares"])
    print(f"| {r['model']} | {r['n']} | {clients} | {r['offline']:.1f} | {r['server']:.1f} | "
          f"**{100 * r['share']:.0f}%** ({shares}) | {1000 * r['p50']:.0f} | {1000 * r['p99']:.0f} | {r['errors']} | "
          f"{r['batch']:.1f} | {100 * r['busy']:.0f}% |",
          flush=True)


def check_correct(port: int, rm: RewardModel, convs, args) -> float:
    """Each conversation alone through the server vs offline alone: same shapes, so bf16 matches too."""
    async def go():
        conn = await Conn.open(port)
        out = []
        for c in convs:
            status, body = await conn.request("POST", "/score", json.dumps({"conversations": [c]}).encode(), KEY)
            assert status == 200, (status, body)
            out.append(json.loads(body)["scores"][0])
        conn.close()
        return out

    served = asyncio.run(go())
    alone = [rm.score([c], max_length=args.max_length, pad_to_multiple=args.pad_to_multiple, progress=False)[0]
             for c in convs]
    return max(abs(a - b) for a, b in zip(served, alone))


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def soak(port: int, pid: int, bodies, args) -> list[tuple[float, float, int]]:
    """(minutes, RSS MB, requests so far) every 30 s while --clients keep sending."""
    samples, done, start = [(0.0, rss_mb(pid), 0)], 0, time.monotonic()
    while time.monotonic() - start < 60 * args.soak_minutes:
        left = 60 * args.soak_minutes - (time.monotonic() - start)
        res = asyncio.run(run_load(port, bodies, args.clients, KEY, seconds=min(30.0, left)))
        done += res["count"]
        assert res["errors"] == 0, res
        samples.append(((time.monotonic() - start) / 60, rss_mb(pid), done))
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["smollm2", "minilm"])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--distinct", type=int, default=500)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--batch-tokens", type=int, default=8192)
    serve = ServeConfig()  # the server's defaults, which the benchmark measures unless told otherwise
    ap.add_argument("--max-wait-ms", type=float, default=serve.max_wait_ms)
    ap.add_argument("--wait-fraction", type=float, default=serve.wait_fraction)
    ap.add_argument("--kernel-cache-capacity", type=int, default=serve.kernel_cache_capacity,
                    help="the server's oneDNN/ideep kernel caches (offline scoring here keeps torch's defaults)")
    ap.add_argument("--pad-to-multiple", type=int, default=serve.pad_to_multiple,
                    help="the server's (offline scoring here keeps 1: its batches repeat, so their kernels are cached)")
    ap.add_argument("--soak-minutes", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3, help="rounds of offline + server per model; medians")
    ap.add_argument("--port", type=int, default=18531)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the finally blocks: never orphan a server

    convs = conversations(args.distinct, args.requests)
    print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} at start")
    print(f"{args.requests} requests x 1 conversation ({args.distinct} distinct RewardBench conversations), "
          f"{args.clients} clients, {args.dtype}, max_length {args.max_length}, batch_tokens {args.batch_tokens}, "
          f"max_wait_ms {args.max_wait_ms}, wait_fraction {args.wait_fraction}, server kernel caches "
          f"{args.kernel_cache_capacity}, server pad_to_multiple {args.pad_to_multiple}\n")
    print(f"Medians of {args.repeats} rounds (each: offline, then the server, side by side); share per round in brackets.\n")
    print("| model | requests | clients | offline conv/s | server conv/s | share (rounds) | p50 ms | p99 ms | errors "
          "| conv/batch | model busy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    last = None
    for i, model in enumerate(args.models):
        m = measure(model, convs, args.port + i, args)
        print_row(m["row"], args.clients)
        if i < len(args.models) - 1:
            m["proc"].terminate()
            m["proc"].wait(60)
        last = (m, args.port + i)
    (m, port), proc = last, last[0]["proc"]
    try:
        after_barrage(m, port, proc, convs, args)
    finally:
        proc.terminate()
        proc.wait(60)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


def after_barrage(m: dict, port: int, proc, convs, args) -> None:
    print(f"\nBad-input barrage against {m['row']['model']} (RSS before: {rss_mb(proc.pid):.0f} MB):\n")
    print("| input | status | answer |")
    print("|---|---:|---|")
    for name, status, detail in asyncio.run(barrage(port, KEY)):
        print(f"| {name} | {status} | {detail[:110]} |", flush=True)
    diff = check_correct(port, m["rm"], convs[:50], args)
    alive = proc.poll() is None
    print(f"\nAfterwards: server alive {alive}, RSS {rss_mb(proc.pid):.0f} MB; 50 conversations one at a time "
          f"through the server vs offline alone: max |diff| = {diff:.2e}\n", flush=True)
    if args.soak_minutes > 0:
        samples = soak(port, proc.pid, bodies_of(convs), args)
        print(f"Soak ({args.soak_minutes:g} min, {args.clients} clients, 0 errors), server RSS:\n")
        print("| minute | RSS MB | requests |")
        print("|---:|---:|---:|")
        for minute, mb, n in samples:
            print(f"| {minute:.1f} | {mb:.0f} | {n} |")
        mbs = [mb for _, mb, _ in samples]
        print(f"\nRSS first {mbs[0]:.0f} MB, last {mbs[-1]:.0f} MB, max {max(mbs):.0f} MB; median of the second "
              f"half {statistics.median(mbs[len(mbs) // 2:]):.0f} MB")


if __name__ == "__main__":
    main()
