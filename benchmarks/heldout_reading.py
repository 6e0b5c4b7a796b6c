"""python benchmarks/heldout_reading.py {blind,collect,report} ...

How often a held-out row's labels are right, measured by reading. The constructions (docs/hard-pairs.md)
take the data's own chosen response as the better one; where the data's label is wrong, or both
responses serve the request equally, no model can score 100 on that row (natural pairs the same). A
reader who sees neither the label nor any score decides (the last five turns; responses cut at 1,500
characters), and each run is then scored on the pairs the reader confirms, apart from those it calls a
tie or reverses:

    python benchmarks/heldout_reading.py blind runs/hp-r1 /tmp/blind ~/key.json   # A/B files; the key apart
    #   a reader who sees only /tmp/blind writes verdicts_<type>.jsonl there:
    #   {"item": "ne00", "verdict": "A"|"B"|"tie", "why": ...}
    python benchmarks/heldout_reading.py collect ~/key.json /tmp/blind benchmarks/readings/seed42-constructed-reader1.jsonl
    python benchmarks/heldout_reading.py report runs/hp-r0 runs/hp-r1 --judge runs/hp-r0 \\
        --readings benchmarks/readings/seed42-constructed-reader1.jsonl [a second reader's file]

`report` prints, per bias type and reader verdict (agrees with the label / tie / disagrees), each run's
model and frozen-probe accuracy (Wilson 95%), and the row's ceiling: the score of a model that sides with
the reader (ties count ½). `--judge RUN` adds how often the reader confirms the pairs that RUN's model
ranks wrong or tied (what the hard-pair judge filter would keep) against those it ranks right.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from hard_pairs_ratio import heldout_pairs  # noqa: E402

from rewardkit.evaluation.heldout import accuracy_with_interval, flags, format_accuracy  # noqa: E402
from rewardkit.hardpairs.config import SOURCE_PREFIX  # noqa: E402

VERDICTS = ("agrees", "tie", "disagrees")
"""A reader's verdict relative to the pair's label: the chosen is better, neither is, the rejected is."""


def _run_margins(run: Path) -> dict:
    return json.loads((run / "train" / "summary.json").read_text())["heldout_margins"]


def _flat(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


NATURAL_LONGER = "natural_rejected_longer"
"""The read (not constructed) held-out pairs whose rejected response is the longer one, as a type."""


def of_type(pairs: list, name: str) -> list:
    """A run's held-out pairs of one bias type, or NATURAL_LONGER's."""
    if name == NATURAL_LONGER:
        return [p for p in pairs if not p.source.startswith(SOURCE_PREFIX) and len(p.rejected) > len(p.chosen)]
    return [p for p in pairs if p.source == SOURCE_PREFIX + name]


def blind(run: Path, out: Path, key_file: Path, types: list[str], seed: int, max_items: int | None = None) -> None:
    """One file per type of A/B items in `out` (the conversation's last turns, then the two responses in
    seeded random order: no label, no score), and `key_file` (kept where the reader cannot look) mapping
    each item to its pair and the chosen's side. `max_items`: a seeded sample of each type, in run order."""
    margins = _run_margins(run)
    pairs = heldout_pairs(yaml.safe_load((run / "train" / "recipe.yaml").read_text()), margins["ids"])
    out.mkdir(parents=True, exist_ok=True)
    rng, key = random.Random(seed), {}
    for bias in types:
        lines, chosen = [], of_type(pairs, bias)
        if max_items is not None and len(chosen) > max_items:
            keep = set(random.Random(f"{seed}-{bias}").sample(range(len(chosen)), max_items))
            chosen = [p for i, p in enumerate(chosen) if i in keep]
        for i, p in enumerate(chosen):
            item, swap = f"{bias[:2]}{i:02d}", rng.random() < 0.5
            key[item] = {"id": p.id, "bias": bias, "a_is": "rejected" if swap else "chosen"}
            a, b = (p.rejected, p.chosen) if swap else (p.chosen, p.rejected)
            lines.append(f"===== ITEM {item} =====\nCONVERSATION (last turns; the final user turn is what must be answered):")
            lines += [f"  [{m['role']}] {_flat(m['content'], 700)}" for m in p.prompt[-5:]]
            lines += [f"RESPONSE A: {_flat(a, 1500)}", f"RESPONSE B: {_flat(b, 1500)}", ""]
        (out / f"{bias}.txt").write_text("\n".join(lines) + "\n")
    key_file.write_text(json.dumps(key, indent=1))


def verdict(reader: str, a_is: str) -> str:
    """The reader's A / B / tie as agrees / disagrees / tie with the label."""
    if reader == "tie":
        return "tie"
    return "agrees" if (reader == "A") == (a_is == "chosen") else "disagrees"


def collect(key_file: Path, blind_dir: Path, dest: Path) -> None:
    key = json.loads(key_file.read_text())
    rows = []
    for f in sorted(blind_dir.glob("verdicts_*.jsonl")):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            v = json.loads(line)
            if v.get("verdict") not in ("A", "B", "tie") or v.get("item") not in key:
                raise SystemExit(f"{f}:{n}: needs an item of {key_file} and verdict A, B or tie; got {line[:80]!r}")
            k = key[v["item"]]
            rows.append({**k, "reader": v["verdict"], "verdict": verdict(v["verdict"], k["a_is"]), "why": v.get("why", "")})
    dest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def ceiling(verdicts: list[str]) -> float:
    """Accuracy against the labels of a model that sides with the reader: ties at ½, reversals at 0."""
    return sum({"agrees": 1.0, "tie": 0.5, "disagrees": 0.0}[v] for v in verdicts) / len(verdicts)


def merged(readings: list[list[dict]]) -> list[dict]:
    """One row per read pair: id, bias, and each reader's verdict in order; every reader must have read
    the same pairs."""
    ids = [[r["id"] for r in rs] for rs in readings]
    if any(sorted(i) != sorted(ids[0]) for i in ids):
        raise SystemExit("the readings do not cover the same pairs")
    verdicts = [{r["id"]: r["verdict"] for r in rs} for rs in readings]
    return [{"id": r["id"], "bias": r["bias"], "verdicts": [v[r["id"]] for v in verdicts]} for r in readings[0]]


def consensus(verdicts: list[str]) -> str:
    return verdicts[0] if len(set(verdicts)) == 1 else "readers differ"


def report(readings: list[list[dict]], runs: list[Path], judge: Path | None) -> None:
    from sklearn.metrics import cohen_kappa_score  # the bench extra

    rows = merged(readings)
    margins = {run: _run_margins(run) for run in runs + ([judge] if judge else [])}
    by_id = {run: dict(zip(m["ids"], zip(m["model"], m["probe"]))) for run, m in margins.items()}
    for run, ids in by_id.items():
        missing = [r["id"] for r in rows if r["id"] not in ids]
        if missing:
            raise SystemExit(f"{run}: {len(missing)} read pairs are not among its held-out pairs (another "
                             "hold-out draw or construction): its rows would not be the same pairs")
    types = list(dict.fromkeys(r["bias"] for r in rows))
    print("| type | reader(s) | pairs | " + " | ".join(f"{r.name} model | {r.name} probe" for r in runs) + " |")
    print("|---|---|---:|" + "---:|---:|" * len(runs))
    groups = (*VERDICTS, "readers differ", "all") if len(readings) > 1 else (*VERDICTS, "all")
    for bias in types:
        of_type = [r for r in rows if r["bias"] == bias]
        for g in groups:
            group = [r for r in of_type if g in ("all", consensus(r["verdicts"]))]
            if not group:
                continue
            cells = [format_accuracy(accuracy_with_interval(flags([by_id[run][r["id"]][k] for r in group])))
                     for run in runs for k in (0, 1)]
            print(f"| {bias} | {g} | {len(group)} | " + " | ".join(cells) + " |")
    print("\nCeiling (a model siding with the reader; ties ½):")
    for bias in types:
        of_type = [r["verdicts"] for r in rows if r["bias"] == bias]
        per_reader = [100 * ceiling([v[i] for v in of_type]) for i in range(len(readings))]
        line = f"  {bias}: " + ", ".join(f"reader {i + 1} {c:.1f}" for i, c in enumerate(per_reader))
        if len(readings) == 2:
            a, b = ([v[i] for v in of_type] for i in (0, 1))
            same = sum(x == y for x, y in zip(a, b))
            kappa = cohen_kappa_score(a, b, labels=list(VERDICTS))  # agreement beyond chance (Cohen 1960)
            line += f"; the readers give the same verdict on {same} of {len(a)}, kappa {kappa:.2f}"
        print(line)
    if judge:
        print(f"\nLabel confirmed (every reader agrees), by {judge.name}'s model margin (the judge filter keeps <= 0):")
        for bias in types:
            for side, keep in (("kept (wrong or tied)", True), ("dropped (right)", False)):
                group = [r for r in rows if r["bias"] == bias and (by_id[judge][r["id"]][0] <= 0) == keep]
                agree = sum(consensus(r["verdicts"]) == "agrees" for r in group)
                print(f"  {bias}: {side}: {agree} of {len(group)} ({100 * agree / max(1, len(group)):.0f}%)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("blind")
    b.add_argument("run", type=Path)
    b.add_argument("out", type=Path)
    b.add_argument("key", type=Path)
    b.add_argument("--types", nargs="+", default=["neighbour", "longer_worse"],
                   help=f"bias types, or {NATURAL_LONGER}")
    b.add_argument("--seed", type=int, default=2026)
    b.add_argument("--max-items", type=int, help="a seeded sample of this many per type")
    c = sub.add_parser("collect")
    c.add_argument("key", type=Path)
    c.add_argument("blind_dir", type=Path)
    c.add_argument("dest", type=Path)
    r = sub.add_parser("report")
    r.add_argument("runs", type=Path, nargs="+")
    r.add_argument("--readings", type=Path, nargs="+", required=True, help="one file per reader")
    r.add_argument("--judge", type=Path)
    args = ap.parse_args()
    if args.cmd == "blind":
        blind(args.run, args.out, args.key, args.types, args.seed, args.max_items)
    elif args.cmd == "collect":
        collect(args.key, args.blind_dir, args.dest)
    else:
        readings = [[json.loads(line) for line in f.read_text().splitlines()] for f in args.readings]
        report(readings, args.runs, args.judge)


if __name__ == "__main__":
    main()
