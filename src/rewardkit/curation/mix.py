"""Mix curated sources: exact-duplicate removal across sources, a seeded shuffle, and the outputs.

Duplicates: `PreferencePair.id` is the content hash of (prompt messages with roles, chosen, rejected),
so two pairs with the same prompt, chosen and rejected text share an id whatever their source or
source_id; the first one in mix order (the recipe's source order) is kept, later ones are dropped and
counted, with the source of the copy that was kept. The shuffle is `random.Random(seed).shuffle`, so a
recipe and its seed fix the output order.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from rewardkit.data.io import atomic_path, pair_schema, write_jsonl_atomic
from rewardkit.data.pairs import PreferencePair

DUPLICATE = "exact duplicate (same prompt, chosen and rejected)"


class Dedupe:
    """A stateful Filter: drops a pair whose id was already kept in this mix."""

    name = "dedupe"

    def __init__(self) -> None:
        self.first_source: dict[str, str] = {}
        self.overlap: Counter = Counter()
        """(source of the dropped copy, source of the kept copy) -> n: which sources overlap."""

    def keep(self, pair: PreferencePair) -> tuple[bool, str]:
        pid = pair.id
        first = self.first_source.get(pid)
        if first is None:
            self.first_source[pid] = pair.source
            return True, ""
        self.overlap[(pair.source, first)] += 1
        return False, DUPLICATE


def shuffled(pairs: list[PreferencePair], seed: int) -> list[PreferencePair]:
    out = list(pairs)
    random.Random(seed).shuffle(out)
    return out


def write_mix(pairs: list[PreferencePair], out_dir: Path) -> dict[str, Path]:
    """pairs.parquet and pairs.jsonl, each row with its provenance (source, config, split, source_id,
    meta), written atomically. Rows are built once for both files (each row hashes its pair's content)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [p.to_dict() for p in pairs]
    paths = {"parquet": out_dir / "pairs.parquet", "jsonl": out_dir / "pairs.jsonl"}
    with atomic_path(paths["parquet"]) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=pair_schema()), tmp)
    write_jsonl_atomic(paths["jsonl"], rows)
    return paths
