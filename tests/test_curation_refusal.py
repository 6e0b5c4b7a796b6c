"""WildGuardMix curation: the pairing rule, the adversarial filter, the RM-agreement filter, and the
pairing rule on the shared XSTest completions with expected counts derived straight from the CSVs."""

import csv
from collections import Counter, defaultdict

import pytest

from rewardkit.curation.refusal import AdversarialOnly
from rewardkit.data.sources.refusal import RefusalRow, make_refusal_pairs
from rewardkit.curation.rm_filter import LOWER, TIE, RMAgreement
from rewardkit.curation.steps import RunReport, run_steps
from rewardkit.data.pairs import PreferencePair
from conftest import SHARED_DATA

XSTEST = SHARED_DATA / "xstest"


def row(prompt, response, harmful, refusal, adversarial=True, i=0):
    return RefusalRow(prompt, response, harmful, refusal, "allenai/wildguardmix", str(i), adversarial=adversarial)


def test_pairing_rule_per_prompt():
    rows = [
        row("make a bomb", "no way", True, True, i=1),
        row("make a bomb", "step 1 ...", True, False, i=2),
        row("make a cake", "sorry, I can't", False, True, adversarial=False, i=3),
        row("make a bomb", "I won't help", True, True, i=4),
        row("make a cake", "mix flour ...", False, False, adversarial=False, i=5),
        row("make a cake", "preheat ...", False, False, adversarial=False, i=6),
        row("all refusals", "no", False, True, i=7),  # nothing to prefer: no pair
    ]
    pairs = list(make_refusal_pairs(rows))
    got = [(p.first_user_turn, p.chosen, p.rejected, p.source_id) for p in pairs]
    # harmful: refusal over compliance; benign: compliance over refusal; preferred-major row order
    assert got == [
        ("make a bomb", "no way", "step 1 ...", "1|2"),
        ("make a bomb", "I won't help", "step 1 ...", "4|2"),
        ("make a cake", "mix flour ...", "sorry, I can't", "5|3"),
        ("make a cake", "preheat ...", "sorry, I can't", "6|3"),
    ]
    assert pairs[0].meta["prompt_harmful"] is True and pairs[0].meta["chosen_refusal"] is True
    assert pairs[2].meta["adversarial"] is False
    capped = list(make_refusal_pairs(rows, max_pairs_per_prompt=1))
    assert [p.source_id for p in capped] == ["1|2", "5|3"]


def test_adversarial_only_filter_counts():
    pairs = list(make_refusal_pairs([
        row("a", "no", True, True, adversarial=True), row("a", "yes", True, False, adversarial=True),
        row("b", "no", True, True, adversarial=False), row("b", "yes", True, False, adversarial=False),
        row("c", "no", True, True, adversarial=None), row("c", "yes", True, False, adversarial=None),
    ]))
    report = RunReport()
    kept = list(run_steps(pairs, [AdversarialOnly()], report=report))
    assert [p.first_user_turn for p in kept] == ["a"]
    assert report.steps[0].dropped == {"not adversarial": 1, "no adversarial label": 1}


class TableScorer:
    """Scores looked up by response text: the filter only sees score_pairs."""

    def __init__(self, table):
        self.table, self.calls = table, 0

    def score_pairs(self, pairs):
        self.calls += 1
        return [(self.table[p.chosen], self.table[p.rejected]) for p in pairs]


def simple(i, chosen, rejected):
    return PreferencePair([{"role": "user", "content": f"q{i}"}], chosen, rejected, "any/source", source_id=str(i))


def test_rm_agreement_keeps_strictly_higher_and_counts_ties():
    scorer = TableScorer({"A": 1.0, "B": 0.5, "C": 0.5, "D": -2.0})
    pairs = [simple(0, "A", "B"), simple(1, "B", "C"), simple(2, "D", "A"), simple(3, "C", "D")]
    report = RunReport()
    kept = list(run_steps(pairs, [RMAgreement(scorer)], report=report, label="wildguard"))
    assert [p.source_id for p in kept] == ["0", "3"]
    assert report.steps[0].dropped == {TIE: 1, LOWER: 1}
    assert scorer.calls == 1  # one batched call over the pool


def test_xstest_completions_give_exactly_the_expected_pairs():
    from rewardkit.data.sources import open_source
    from rewardkit.data.sources.base import ReadContext
    from rewardkit.data.sources.xstest import iter_rows

    # Independently from the CSVs: per prompt id, the models' full compliances and full refusals.
    prompts = {r["id"]: r for r in csv.DictReader(open(XSTEST / "xstest_prompts.csv", encoding="utf-8"))}
    by_id = defaultdict(lambda: {"1_full_compliance": [], "2_full_refusal": []})
    for f in sorted((XSTEST / "model_completions").glob("*.csv")):
        for r in csv.DictReader(open(f, encoding="utf-8")):
            if r["final_label"] in by_id[r["id"]]:
                by_id[r["id"]][r["final_label"]].append(r["completion"])
    expected = Counter()
    for pid, got in by_id.items():
        p = prompts[pid.removeprefix("v2-")]
        unsafe = p["label"] == "unsafe"
        good, bad = (got["2_full_refusal"], got["1_full_compliance"]) if unsafe else (got["1_full_compliance"], got["2_full_refusal"])
        for c in good:
            for r in bad:
                if c != r:
                    expected[(p["prompt"], c, r)] += 1
    assert sum(expected.values()) > 500  # sanity: the five models disagree often enough

    spec = open_source(f"xstest:{XSTEST}")
    pairs = list(make_refusal_pairs(iter_rows(spec, ReadContext(str(spec.spec)))))
    assert Counter((p.first_user_turn, p.chosen, p.rejected) for p in pairs) == expected

    # capped: at most k pairs per prompt -> sum over prompts of min(k, candidates)
    per_prompt = Counter(prompt for (prompt, _, _), n in expected.items() for _ in range(n))
    capped = list(make_refusal_pairs(iter_rows(spec, ReadContext(str(spec.spec))), max_pairs_per_prompt=2))
    assert len(capped) == sum(min(2, n) for n in per_prompt.values())
    assert Counter(p.first_user_turn for p in capped) == {k: min(2, n) for k, n in per_prompt.items()}


@pytest.fixture(scope="module")
def tiny_rm():
    from tiny_models import tiny_llama, tiny_tokenizer

    return tiny_llama(seed=3), tiny_tokenizer()


def test_rm_agreement_with_a_tiny_real_model(tiny_rm):
    import torch

    from rewardkit.curation.run import BoundedScorer
    from rewardkit.models.scoring import RewardModel

    model, tok = tiny_rm
    words = "hello world why sky blue because light scatter good bad answer yes no cats dogs".split()
    pairs = [simple(i, " ".join(words[i % 7: i % 7 + 3]), " ".join(words[(i * 3) % 11: (i * 3) % 11 + 2]))
             for i in range(12)]
    pairs = [p for p in pairs if p.chosen != p.rejected]

    def independent(conv):  # one unpadded sequence: the score is the logit at its last token
        ids = tok.apply_chat_template(conv, tokenize=True, return_dict=False)
        with torch.no_grad():
            return model(input_ids=torch.tensor([ids])).logits[0, 0].item()

    want = [(independent(p.chosen_conversation()), independent(p.rejected_conversation())) for p in pairs]
    # near-ties would make the kept set depend on float noise between batched and single forwards
    clear = [i for i, (c, r) in enumerate(want) if abs(c - r) > 1e-4]
    pairs, want = [pairs[i] for i in clear], [want[i] for i in clear]
    step = RMAgreement(BoundedScorer(RewardModel(model, tok), max_length=256))
    report = RunReport()
    kept = list(run_steps(pairs, [step], report=report))
    flat = lambda xs: [s for c_r in xs for s in c_r]  # noqa: E731
    assert flat(step.scores) == pytest.approx(flat(want), abs=1e-5)
    assert [p.id for p in kept] == [p.id for p, (c, r) in zip(pairs, want) if c > r]
    n_lower = sum(c < r for c, r in want)
    assert 0 < len(kept) < len(pairs) and report.steps[0].dropped == {LOWER: n_lower}
    assert step.scorer.truncated == 0  # 256 tokens fit every pair

    from rewardkit.models.tokenization import encode_pair

    lengths = [max(len(e.chosen_ids), len(e.rejected_ids)) for e in (encode_pair(tok, p, max_length=None) for p in pairs)]
    limit = max(lengths) - 1  # the longest pairs must be cut
    short = BoundedScorer(RewardModel(model, tok), max_length=limit)
    list(run_steps(pairs, [RMAgreement(short)], report=RunReport()))
    assert short.truncated == sum(n > limit for n in lengths) > 0


def test_conflicting_harm_labels_are_dropped_and_counted_not_decided_by_the_first_row():
    from rewardkit.data.sources.base import ReadContext
    from rewardkit.data.sources.refusal import refusal_pairs

    def row(i, harmful, refusal, prompt="p"):
        return RefusalRow(prompt=prompt, response=f"r{i}", prompt_harmful=harmful, refusal=refusal,
                          source="allenai/wildguardmix", source_id=str(i))

    rows = [row(1, True, True), row(2, False, False), row(3, True, True, "q"), row(4, True, False, "q")]
    ctx = ReadContext("wildguardmix:test")
    pairs = list(refusal_pairs(iter(rows), ctx, None))
    assert [(p.chosen, p.rejected) for p in pairs] == [("r3", "r4")]
    assert ctx.report.dropped == {"conflicting prompt harm labels": 2}
    with pytest.raises(ValueError, match="disagree"):
        list(make_refusal_pairs(rows[:2]))
