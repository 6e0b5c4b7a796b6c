"""The constructions: prompts with their best and worst responses and band neighbours -> bias-targeted pairs.

Pure functions of (entries, neighbours, rng). Each returns *units*: lists of pairs that are kept or
sampled together (a swapped unit is its two mirror pairs). Every pair passes the rule read pairs meet
(rewardkit.data.sources.runner.checked_pair) or is not built. docs/hard-pairs.md describes each one and
how it fails.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.rows import Dropped
from rewardkit.data.sources.runner import checked_pair
from rewardkit.hardpairs.config import SOURCE_PREFIX
from rewardkit.hardpairs.pool import Entry

Neighbours = list[list[tuple[int, float]]]
Unit = list[PreferencePair]


def ref(pair: PreferencePair) -> dict[str, str]:
    """Where a part came from: the read pair's content id and its dataset row."""
    return {"id": pair.id, "source": pair.source, "source_id": pair.source_id}


def constructed(bias: str, entry: Entry, chosen: str, rejected: str, parts: dict[str, PreferencePair],
                **meta) -> PreferencePair | None:
    """A pair on `entry`'s prompt, tagged with its bias type and each part's provenance; None when it
    breaks the rule every read pair meets (e.g. chosen equal to rejected)."""
    base = entry.best_from
    pair = PreferencePair(prompt=entry.prompt, chosen=chosen, rejected=rejected, source=SOURCE_PREFIX + bias,
                          source_config=base.source, source_split=base.source_split, source_id=base.source_id,
                          meta={"bias": bias, "parts": {k: ref(p) for k, p in parts.items()}, **meta})
    try:
        return checked_pair(pair)
    except Dropped:
        return None


def neighbour(entries: list[Entry], nbrs: Neighbours, rng: random.Random) -> list[Unit]:
    """LLMBar's Neighbor: the rejected is the best response of the most similar prompt in the band."""
    units = []
    for i, e in enumerate(entries):
        if nbrs[i]:
            j, sim = nbrs[i][0]
            n = entries[j]
            units.append([constructed("neighbour", e, e.best, n.best,
                                      {"prompt": e.best_from, "chosen": e.best_from, "rejected": n.best_from},
                                      similarity=round(sim, 4))])
    return [u for u in units if u[0] is not None]


def paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


LONGER_TRIES = 3
"""Neighbours tried, most similar first, for material that makes the worst response the longer one."""


def longer_worse(entries: list[Entry], nbrs: Neighbours, rng: random.Random) -> list[Unit]:
    """The prompt's worst response with a neighbour's paragraphs appended until it is longer (in
    characters) than the best: off-request material, so it is worse and longer by construction."""
    units = []
    for i, e in enumerate(entries):
        if e.worst == e.best:
            continue
        for j, sim in nbrs[i][:LONGER_TRIES]:
            n = entries[j]
            added: list[str] = []
            for para in paragraphs(n.best):
                added.append(para)
                if len(e.worst) + sum(len(a) + 2 for a in added) > len(e.best):
                    break
            rejected = "\n\n".join([e.worst.rstrip(), *added])
            if len(rejected) > len(e.best):
                pair = constructed("longer_worse", e, e.best, rejected,
                                   {"prompt": e.best_from, "chosen": e.best_from, "rejected": e.worst_from,
                                    "appended": n.best_from},
                                   similarity=round(sim, 4), appended_paragraphs=len(added))
                if pair is not None:
                    units.append([pair])
                break
    return units


def swapped(entries: list[Entry], nbrs: Neighbours, rng: random.Random) -> list[Unit]:
    """RRM's cross-prompt pairs, both ways: prompts matched two by two (in seeded order, each to a seeded
    pick among its still unmatched band neighbours) give (x: y over y') and (x': y' over y), so each
    best response is chosen once and rejected once."""
    order = list(range(len(entries)))
    rng.shuffle(order)
    matched: set[int] = set()
    units = []
    for i in order:
        if i in matched:
            continue
        free = [(j, s) for j, s in nbrs[i] if j not in matched]
        if not free:
            continue
        j, sim = rng.choice(free)
        matched.update((i, j))
        a, b = entries[i], entries[j]
        unit = [constructed("swapped", a, a.best, b.best, {"prompt": a.best_from, "chosen": a.best_from,
                                                            "rejected": b.best_from}, similarity=round(sim, 4)),
                constructed("swapped", b, b.best, a.best, {"prompt": b.best_from, "chosen": b.best_from,
                                                            "rejected": a.best_from}, similarity=round(sim, 4))]
        if None not in unit:
            units.append(unit)
    return units


NUMBERS = {w: k for k, w in enumerate("zero one two three four five six seven eight nine ten".split())}
COUNT_REQUEST = re.compile(
    r"\b(?:name|list|give|suggest|provide|recommend|share|tell|write|what are|top|outline|identify|mention)\b"
    r"[^.?!\n]{0,40}?\b(2|3|4|5|6|7|8|9|10|two|three|four|five|six|seven|eight|nine|ten)\b", re.IGNORECASE)
ITEM = re.compile(r"^(\s*)(?:(\d+)([.)])|([-*•]))\s+\S")


NOT_EXACT = (re.compile(r"\b(?:at least|at most|up to|no more than|no fewer than|more than|fewer than|less than|over|under)\s*$",
                        re.IGNORECASE),
             re.compile(r"^\s*(?:or more|or fewer|or less|or so|to \w+|-\s*\w+|%|percent)", re.IGNORECASE))
"""A bound or a range ("at least 5", "three to five") is no exact count: one item more or less may obey it."""


def requested_count(text: str) -> int | None:
    """N in "name three ...", "give me 5 ...", "what are the two ..."; None when the request names no
    exact count."""
    m = COUNT_REQUEST.search(text)
    if m is None or NOT_EXACT[0].search(text[:m.start(1)]) or NOT_EXACT[1].match(text[m.end(1):]):
        return None
    word = m.group(1).lower()
    return int(word) if word.isdigit() else NUMBERS[word]


def list_items(text: str) -> list[int]:
    """Line indices of the top-level list items of `text`: marker lines ("1." / "1)" / "-" / "*" / "•")
    at the smallest indentation, all of one marker kind; [] when the markers are mixed."""
    lines = text.split("\n")
    found = [(i, ITEM.match(line)) for i, line in enumerate(lines)]
    found = [(i, m) for i, m in found if m]
    if not found:
        return []
    indent = min(len(m.group(1)) for _, m in found)
    top = [(i, m) for i, m in found if len(m.group(1)) == indent]
    kinds = {m.group(3) or m.group(4) for _, m in top}
    return [i for i, _ in top] if len(kinds) == 1 else []


def _block_end(lines: list[str], start: int, items: list[int]) -> int:
    """One past the last line of the item starting at `start`: up to the next item or a blank line."""
    end = start + 1
    while end < len(lines) and end not in items and lines[end].strip():
        end += 1
    return end


def _renumber(lines: list[str]) -> list[str]:
    """Numbered top-level items numbered 1, 2, ... again after one was removed or added."""
    k, out = 0, []
    items = set(list_items("\n".join(lines)))
    for i, line in enumerate(lines):
        m = ITEM.match(line)
        if i in items and m and m.group(2):
            k += 1
            line = f"{m.group(1)}{k}{m.group(3)}{line[m.end(3):]}"
        out.append(line)
    return out


def drop_item(text: str, rng: random.Random) -> str:
    lines, items = text.split("\n"), list_items(text)
    start = rng.choice(items)
    return "\n".join(_renumber(lines[:start] + lines[_block_end(lines, start, items):]))


def add_item(text: str, donor: str) -> str | None:
    """`text` with the first list item of `donor` (its first line) appended after its own last item."""
    donor_items = list_items(donor)
    if not donor_items:
        return None
    lines, items = text.split("\n"), list_items(text)
    end = _block_end(lines, items[-1], items)
    m = ITEM.match(lines[items[-1]])
    marker = f"{m.group(1)}{int(m.group(2)) + 1}{m.group(3)}" if m.group(2) else f"{m.group(1)}{m.group(4)}"
    body = ITEM.match(donor.split("\n")[donor_items[0]])
    item = donor.split("\n")[donor_items[0]][body.end(1):]
    item = re.sub(r"^(?:\d+[.)]|[-*•])\s+", "", item)
    return "\n".join(lines[:end] + [f"{marker} {item}"] + lines[end:])


def count_mismatch(entries: list[Entry], nbrs: Neighbours, rng: random.Random) -> list[Unit]:
    """A constraint broken: the request asks for N things and the best response lists exactly N; the
    rejected is that response with one item removed, or (seeded, half the time) one more item taken
    from a neighbour's list. Nothing else differs."""
    units = []
    for i, e in enumerate(entries):
        n = requested_count(e.prompt[-1]["content"])
        if n is None or n < 2 or len(list_items(e.best)) != n:
            continue
        donor = next((entries[j] for j, _ in nbrs[i] if list_items(entries[j].best)), None)
        if donor is not None and rng.random() < 0.5:
            rejected, edit, parts = add_item(e.best, donor.best), "added", {"added_item": donor.best_from}
        else:
            rejected, edit, parts = drop_item(e.best, rng), "removed", {}
        pair = constructed("count_mismatch", e, e.best, rejected,
                           {"prompt": e.best_from, "chosen": e.best_from, "rejected": e.best_from, **parts},
                           requested=n, edit=edit)
        if pair is not None:
            units.append([pair])
    return units


REQUEST = re.compile(r"\?|^\W*(?:can|could|would|will|how|what|which|who|whom|where|when|why|is|are|do|does|"
                     r"should|please|tell|give|write|list|name|explain|describe|suggest|show|help|find|make)\b",
                     re.IGNORECASE)
"""A turn that asks for something: a question mark, or a question or request word first."""


def earlier_turn(entries: list[Entry], nbrs: Neighbours, rng: random.Random) -> list[Unit]:
    """In a dialogue whose last user turn is a request (REQUEST), the rejected is the assistant's own
    earlier reply (a seeded pick among them): on topic and well formed, but it answers an earlier request,
    not the last one. A last turn that asks nothing ("Thanks, I'll check her out.") has no request an
    earlier reply could miss, so it gets no pair."""
    units = []
    for e in entries:
        earlier = [k for k, m in enumerate(e.prompt) if m["role"] == "assistant"]
        if not earlier or not REQUEST.search(e.prompt[-1]["content"]):
            continue
        k = rng.choice(earlier)
        pair = constructed("earlier_turn", e, e.best, e.prompt[k]["content"],
                           {"prompt": e.best_from, "chosen": e.best_from, "rejected": e.best_from}, turn=k)
        if pair is not None:
            units.append([pair])
    return units


CONSTRUCTIONS: dict[str, Callable[[list[Entry], Neighbours, random.Random], list[Unit]]] = {
    "neighbour": neighbour, "longer_worse": longer_worse, "swapped": swapped, "count_mismatch": count_mismatch,
    "earlier_turn": earlier_turn}
"""Bias type -> construction; the keys are config.BIAS_TYPES."""
