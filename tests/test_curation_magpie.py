"""Magpie selection on hand-built pools: offsets, per-group fractions, rounding and threshold ties."""

import pytest

from rewardkit.curation.magpie import (
    MAGPIE_AIR, MAGPIE_PRO, MAGPIE_PRO_LLAMA31, MAGPIE_ULTRA, MagpieSelect, kept_count,
)
from rewardkit.curation.steps import RunReport, run_steps
from rewardkit.data.pairs import PreferencePair


def mp(name: str, source: str, chosen: float, rejected: float, category: str | None) -> PreferencePair:
    return PreferencePair([{"role": "user", "content": name}], f"{name} best", f"{name} worst", source,
                          source_id=name, meta={"score_chosen": chosen, "score_rejected": rejected,
                                                "task_category": category})


def kept_names(select, pool):
    return sorted(p.source_id for p, keep, _ in select.decide(pool) if keep)


def test_offsets_decide_the_ranking():
    # Math, 10 pairs -> floor(0.3 x 10) = 3 kept. Means before offsets:
    #   air1 0.30 (-0.10 -> 0.20), air2 0.26 (-> 0.16), pro1 0.22 (-0.05 -> 0.17), pro2 0.19 (-> 0.14),
    #   u1 0.18, u2 0.15, l1 0.185, l2 0.10, l3 0.05, l4 0.0
    # Adjusted order: air1 0.20, l1 0.185, u1 0.18, pro1 0.17, air2 0.16, u2 0.15, pro2 0.14, ...
    pool = [
        mp("air1", MAGPIE_AIR, 0.40, 0.20, "Math"), mp("air2", MAGPIE_AIR, 0.30, 0.22, "Math"),
        mp("pro1", MAGPIE_PRO, 0.24, 0.20, "Math"), mp("pro2", MAGPIE_PRO, 0.20, 0.18, "Math"),
        mp("u1", MAGPIE_ULTRA, 0.20, 0.16, "Math"), mp("u2", MAGPIE_ULTRA, 0.20, 0.10, "Math"),
        mp("l1", MAGPIE_PRO_LLAMA31, 0.25, 0.12, "Math"), mp("l2", MAGPIE_PRO_LLAMA31, 0.10, 0.10, "Math"),
        mp("l3", MAGPIE_PRO_LLAMA31, 0.06, 0.04, "Math"), mp("l4", MAGPIE_PRO_LLAMA31, 0.0, 0.0, "Math"),
    ]
    select = MagpieSelect(fractions={"Math": 0.3, "Other": 0.1})  # a fraction group must occur in the pool
    assert kept_names(select, pool) == ["air1", "l1", "u1"]
    assert select.groups["Math"].as_dict() == {"group": "Math", "fraction": 0.3, "pool": 10, "kept": 3,
                                               "threshold": 0.18}
    # without offsets Air and Pro win: air1 0.30, air2 0.26, pro1 0.22
    assert kept_names(MagpieSelect(offsets={}, fractions=select.fractions), pool) == ["air1", "air2", "pro1"]
    # offsets are per source id and configurable: a big Ultra bonus puts both Ultra pairs on top
    assert kept_names(MagpieSelect(offsets={MAGPIE_ULTRA: -1.0}, fractions=select.fractions), pool) == ["air1", "u1", "u2"]


def test_groups_ranked_independently_with_their_fractions():
    # 10 Math (keep 3), 10 Coding (keep 3), 20 others incl. None and odd categories (keep 2).
    # Every Math pair scores above every other pair, so a global ranking would keep only Math.
    math = [mp(f"m{i}", MAGPIE_ULTRA, 0.9 + i / 100, 0.9, "Math") for i in range(10)]
    code = [mp(f"c{i}", MAGPIE_ULTRA, 0.5 + i / 100, 0.5, "Coding & Debugging") for i in range(10)]
    cats = ["Information seeking", None, "Reasoning", "Others", "Role playing"]
    other = [mp(f"o{i:02d}", MAGPIE_ULTRA, i / 100, 0.0, cats[i % 5]) for i in range(20)]
    select = MagpieSelect()
    assert kept_names(select, math + code + other) == ["c7", "c8", "c9", "m7", "m8", "m9", "o18", "o19"]
    assert {g: (s.pool, s.kept) for g, s in select.groups.items()} == {
        "Math": (10, 3), "Coding & Debugging": (10, 3), "Other": (20, 2)}
    # the category table keeps the raw categories; None is "(none)"
    assert dict(select.categories["(none)"]) == {"pool": 4, "kept": 0}
    assert dict(select.categories["Role playing"]) == {"pool": 4, "kept": 1}  # o19
    assert dict(select.categories["Others"]) == {"pool": 4, "kept": 1}  # o18
    # fractions are configurable; a category named there is its own group
    alt = MagpieSelect(fractions={"Math": 0.5, "Reasoning": 1.0, "Other": 0.0})
    kept = kept_names(alt, math + code + other)
    assert kept == sorted([f"m{i}" for i in range(5, 10)] + [f"o{i:02d}" for i in (2, 7, 12, 17)])


def test_rounding_is_floor_of_the_exact_decimal_fraction():
    assert kept_count(0.3, 10) == 3
    assert kept_count(0.3, 9) == 2  # 2.7 -> 2
    assert kept_count(0.1, 19) == 1  # 1.9 -> 1
    assert kept_count(0.29, 100) == 29  # float64 0.29 * 100 = 28.999999999999996
    assert kept_count(0.1, 5) == 0
    assert kept_count(1.0, 7) == 7


def test_threshold_ties_broken_by_pair_id_whatever_the_input_order():
    # 10 "Other" pairs -> keep 1; all tie at the top score except a lower one -> the smallest id wins.
    pool = [mp(f"t{i}", MAGPIE_ULTRA, 0.5, 0.5, "Editing") for i in range(9)] + [mp("low", MAGPIE_ULTRA, 0.1, 0.1, None)]
    expected = min(pool[:9], key=lambda p: p.id).source_id
    assert kept_names(MagpieSelect(fractions={"Other": 0.1}), pool) == [expected]
    assert kept_names(MagpieSelect(fractions={"Other": 0.1}), list(reversed(pool))) == [expected]
    # ties created by offsets tie as decimals: 0.20 - 0.05 == 0.15 (float64 alone says 0.15000000000000002)
    a = mp("pro", MAGPIE_PRO, 0.20, 0.20, "Math")
    b = mp("ultra", MAGPIE_ULTRA, 0.15, 0.15, "Math")
    select = MagpieSelect(fractions={"Math": 0.5, "Other": 0.1})
    assert select.score(a) == select.score(b) == 0.15
    assert kept_names(select, [a, b]) == [min([a, b], key=lambda p: p.id).source_id]


def test_runs_as_a_step_with_reasons():
    pool = [mp(f"x{i}", MAGPIE_ULTRA, i / 10, 0, "Math") for i in range(10)]
    report = RunReport()
    kept = list(run_steps(pool, [MagpieSelect(fractions={"Math": 0.3, "Other": 0.1})], report=report, label="magpie"))
    assert [p.source_id for p in kept] == ["x7", "x8", "x9"]  # input order preserved
    assert report.as_dict()[0]["dropped"] == {"not in top 30% of Math": 7}


def test_bad_rows_are_named():
    bad = PreferencePair([{"role": "user", "content": "q"}], "a", "b", MAGPIE_AIR, source_id="17", meta={})
    with pytest.raises(ValueError, match="Magpie-Air.*row 17.*score_chosen"):
        MagpieSelect().select_indices([bad])
    with pytest.raises(ValueError, match="must name the merged group"):
        MagpieSelect(fractions={"Math": 0.3})


def test_a_fraction_group_that_matches_no_category_is_refused_listing_the_categories_seen():
    # "Coding and Debugging" for "Coding & Debugging" silently kept 10% (Other) instead of 30%
    pool = [mp(f"c{i}", MAGPIE_ULTRA, i / 10, 0, "Coding & Debugging") for i in range(4)] + [
        mp("m", MAGPIE_ULTRA, 0.5, 0, "Math"), mp("n", MAGPIE_ULTRA, 0.5, 0, None)]
    typo = MagpieSelect(fractions={"Math": 0.3, "Coding and Debugging": 0.3, "Other": 0.1})
    with pytest.raises(ValueError, match=r"\['Coding and Debugging'\] match no task_category in the pool of 6 pairs; "
                                         r"categories seen: \['Coding & Debugging', 'Math'\]"):
        typo.select_indices(pool)
    right = MagpieSelect(fractions={"Math": 0.3, "Coding & Debugging": 0.5, "Other": 0.1})
    assert kept_names(right, pool) == ["c2", "c3"]  # floor(0.5 x 4) = 2 of Coding; floor(0.3 x 1) = 0 of Math
