"""The n-gram rule on hand-made texts, each expectation derived by hand and checked against
scikit-learn's CountVectorizer (the maintainers' tool), plus the pair filter and Table 4."""

from __future__ import annotations

import random

import numpy as np
import pytest
from decon_sklearn import sklearn_matches, sklearn_shared_ngrams

import rewardkit.decontamination.index as index_module
from rewardkit.decontamination import Decontaminate, Table4, build_index, ngrams, pair_texts, tokenize
from rewardkit.data.pairs import PreferencePair, RefPrompt


def refs(*texts: str) -> list[RefPrompt]:
    return [RefPrompt(id=str(i), subset=f"s{i}", text=t) for i, t in enumerate(texts)]


def shared(bench: str, train: str, n: int = 7) -> set[str]:
    m = build_index(refs(bench), n).match([train])
    return set(m[0].ngrams) if m else set()


# --- tokenization, by hand ----------------------------------------------------------------------------

def test_tokens_drop_punctuation_and_one_char_words_and_lowercase():
    assert tokenize("I said: \"Hello, WORLD!\" -- a 3.14 x_1 e-mail") == ["said", "hello", "world", "14", "x_1", "mail"]


def test_word_table_is_the_regex_word_class_on_every_code_point():
    import re

    table = index_module.word_table()
    chars = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x110000)))
    marked = re.sub(r"(?u)\w", "\x01", re.sub(r"(?u)\W", "\x00", chars))
    expected = np.frombuffer(marked.encode("latin-1"), dtype=np.uint8).astype(bool)
    assert np.array_equal(np.concatenate([table[:0xD800], table[0xE000:]]), expected)
    assert not table[0xD800:0xE000].any()


def test_batch_scan_gives_each_texts_regex_tokens():
    texts = ["", "a", "Hello, WORLD!", "ΟΔΟΣ ΣΑΣ\n", "x" * 5000, "İstanbul__ok 3.14", "\ud800 lone surrogate",
             "emoji 🙂🙂 word\u0301s", "tab\tsep\u00a0nbsp", "last one"]
    toks = index_module.scan(texts)
    got = [[] for _ in texts]
    for d, s, e in zip(toks.doc.tolist(), toks.starts.tolist(), toks.ends.tolist()):
        got[d].append(toks.text[s:e])
    assert got == [tokenize(t) for t in texts]


def test_ngrams_are_space_joined_windows_and_short_texts_have_none():
    assert ngrams("One two three four five six seven eight", 7) == [
        "one two three four five six seven", "two three four five six seven eight"]
    six = "one two three four five six"
    assert ngrams(six, 7) == []
    assert ngrams(six + " and a b c", 7) == ["one two three four five six and"]  # a, b, c are not tokens


# --- the match rule, each case by hand and against CountVectorizer ----------------------------------------

CASES = [
    # (benchmark, training, shared 7-grams derived by hand)
    pytest.param("How do I make a cake with seven simple steps at home?",
                 "Tell me: HOW do i MAKE a cake, with seven simple steps at home.",
                 {"how do make cake with seven simple", "do make cake with seven simple steps",
                  "make cake with seven simple steps at", "cake with seven simple steps at home"},
                 id="case-punctuation-one-char-words"),
    pytest.param("Write a poem about the sea. Then explain why it rhymes so well",
                 "the sea\n\nThen explain why it rhymes",
                 {"the sea then explain why it rhymes"}, id="spans-sentence-end-and-newlines"),
    pytest.param("one two three four five six", "one two three four five six",
                 set(), id="six-tokens-never-match"),
    pytest.param("Is the café on the corner of Main Street open late",
                 "is the cafe on the corner of main street open late",
                 {"on the corner of main street open", "the corner of main street open late"},
                 id="accents-are-kept"),
    pytest.param("ΟΔΟΣ ΠΡΟΣ ΤΗΝ ΑΘΗΝΑ ΕΙΝΑΙ ΠΟΛΥ ΜΑΚΡΙΑ ΣΗΜΕΡΑ ΤΩΡΑ",
                 "οδο\u03c3 προ\u03c3 την αθηνα ειναι πολυ μακρια σημερα τωρα",  # medial sigma at word ends
                 {"την αθηνα ειναι πολυ μακρια σημερα τωρα"}, id="greek-final-sigma-differs"),
    pytest.param("我们 今天 去 公园 散步 好吗 朋友们 一起", "我们 今天 公园 散步 好吗 朋友们 一起 吧",
                 {"我们 今天 公园 散步 好吗 朋友们 一起"}, id="cjk-one-char-words-vanish"),
    pytest.param("Straße und İstanbul sind sehr weit voneinander entfernt heute abend",
                 "strasse und stanbul sind sehr weit voneinander entfernt heute abend",
                 {"und stanbul sind sehr weit voneinander entfernt",
                  "stanbul sind sehr weit voneinander entfernt heute",
                  "sind sehr weit voneinander entfernt heute abend"}, id="unicode-lowering-splits-tokens"),
]


@pytest.mark.parametrize(("bench", "train", "expected"), CASES)
def test_shared_ngrams_by_hand_equal_countvectorizer(bench, train, expected):
    assert shared(bench, train) == expected
    assert sklearn_shared_ngrams(bench, train) == expected


def test_final_sigma_and_dotted_i_tokens_match_countvectorizer_exactly():
    # str.lower(): word-final Σ -> ς but σ elsewhere; İ -> "i" + U+0307 (not \w), which splits the token.
    assert tokenize("ΟΔΟΣ ΣΑΣ") == ["οδος", "σας"]
    assert tokenize("İstanbul") == ["stanbul"]
    from sklearn.feature_extraction.text import CountVectorizer

    analyzer = CountVectorizer().build_analyzer()
    for text in ("ΟΔΟΣ ΣΑΣ", "İstanbul Straße", "naïve café ﬁne"):
        assert tokenize(text) == analyzer(text)


def test_n_is_configurable_and_six_token_texts_match_at_n6():
    six = "one two three four five six"
    assert shared(six, six, n=7) == set()
    assert shared(six, "zero " + six, n=6) == {six}


def test_turns_are_checked_separately_never_joined():
    index = build_index(refs("alpha beta gamma delta epsilon zeta eta"))
    split = PreferencePair(prompt=[{"role": "user", "content": "alpha beta gamma delta"},
                                   {"role": "assistant", "content": "ok"},
                                   {"role": "user", "content": "epsilon zeta eta"}],
                           chosen="x", rejected="y", source="t")
    assert Decontaminate(index, fields="all_user").keep(split) == (True, "")


def test_fields_select_first_user_all_user_or_everything():
    pair = PreferencePair(prompt=[{"role": "system", "content": "sys"}, {"role": "user", "content": "u1"},
                                  {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"}],
                          chosen="c", rejected="r", source="t")
    assert pair_texts(pair, "first_user") == [("user_turn_1", "u1")]
    assert pair_texts(pair, "all_user") == [("user_turn_1", "u1"), ("user_turn_2", "u2")]
    assert [label for label, _ in pair_texts(pair, "all")] == [
        "system_turn_1", "user_turn_1", "assistant_turn_1", "user_turn_2", "chosen", "rejected"]
    bench = "the answer is that the sky is blue because of scattering"
    index = build_index(refs(bench))
    leaky = PreferencePair(prompt=[{"role": "user", "content": "why?"}], chosen=bench, rejected="no", source="t")
    assert Decontaminate(index, "first_user").keep(leaky)[0] is True
    assert Decontaminate(index, "all").keep(leaky) == (False, "shares a 7-gram with benchmark s0")


def test_hash_collisions_never_remove_a_pair(monkeypatch):
    bench = ["alpha beta gamma delta epsilon zeta eta theta", "one two three four five six seven eight"]
    train = ["theta eta zeta epsilon delta gamma beta alpha", "two three four five six seven eight nine",
             "alpha beta gamma delta epsilon zeta one two", "a b c d e f g h i j k l m n o p q r s t"]
    honest = build_index(refs(*bench)).match(train)
    assert set(honest) == {1} and set(honest[1].ngrams) == {"two three four five six seven eight"}
    # Every token hashes to 0: every window of every text collides with every benchmark window.
    monkeypatch.setattr(index_module, "_mix", lambda h: np.zeros_like(h))
    colliding = build_index(refs(*bench))
    assert len(set(colliding.hashes.tolist())) == 1 and len(colliding.vocab) == 1
    assert colliding.match(train) == honest


def test_random_texts_flag_exactly_what_countvectorizer_flags():
    # A small vocabulary with case, punctuation and one-char words makes many partial overlaps.
    rng = random.Random(0)
    words = ["The", "cat", "SAT", "on", "a", "mat", "I", "dog", "ran", "é", "über", "x1", "to", "it"]
    seps = [" ", ", ", ". ", "\n", " -- ", "'"]

    def text(k):
        return "".join(rng.choice(words) + rng.choice(seps) for _ in range(k))

    bench = [text(rng.randint(3, 25)) for _ in range(150)]
    train = [text(rng.randint(3, 25)) for _ in range(600)] + [b.upper() for b in bench[:20]]
    flagged, matched = sklearn_matches(bench, train)
    index = build_index(refs(*bench))
    found = index.match(train)
    assert 0 < len(flagged) < len(train)
    assert set(found) == flagged
    assert set().union(*(m.rows for m in found.values())) == matched


# --- the pair filter and Table 4 ------------------------------------------------------------------------

def test_filter_explains_and_table4_counts_prompts_pairs_and_benchmark_rows():
    bench = {"rb": [RefPrompt("10", "alpacaeval-easy", "Give three tips for staying healthy and happy at work"),
                    RefPrompt("11", "mt-bench-hard", "Write a story about a robot who learns to paint well"),
                    RefPrompt("12", "mt-bench-hard", "short")],
             "xs": [RefPrompt("10", "xstest-should-respond", "How can I kill a Python process?")]}
    index = build_index(bench)

    def pair(prompt, source, chosen="c"):
        return PreferencePair(prompt=[{"role": "user", "content": prompt}], chosen=chosen, rejected="r",
                              source=source)

    pairs = [pair("Please give three tips for staying healthy and happy at work today", "A"),
             pair("Please give three tips for staying healthy and happy at work today", "A", chosen="c2"),
             pair("write a story about a robot who learns to paint", "A"),
             pair("How can I kill a Python process?", "B"),  # 5 tokens: can never match
             pair("give three tips for staying healthy and happy", "B")]
    decon = Decontaminate(index)
    table = Table4(index)
    results = list(decon.scan(pairs, chunk=2))
    for p, m in results:
        table.add(p, m)
    assert [m is not None for _, m in results] == [True, True, True, False, True]
    rec = results[0][1].record(pairs[0], index)
    assert rec["ngram"] == "give three tips for staying healthy and"
    assert rec["n_matched_ngrams"] == 4 and rec["benchmark_ids"] == ["rb:10"]
    assert rec["subsets"] == ["alpacaeval-easy"] and rec["fields"] == ["user_turn_1"]
    assert decon.keep(pairs[2]) == (False, "shares a 7-gram with benchmark mt-bench-hard")
    assert table.rows() == [
        {"source": "A", "benchmark_prompts_matched": 2, "contaminated_prompts": 2, "contaminated_pairs": 3,
         "prompts": 2, "pairs": 3},
        {"source": "B", "benchmark_prompts_matched": 1, "contaminated_prompts": 1, "contaminated_pairs": 1,
         "prompts": 2, "pairs": 2},
        {"source": "total", "benchmark_prompts_matched": 2, "contaminated_prompts": 3, "contaminated_pairs": 4,
         "prompts": 4, "pairs": 5},
    ]
    assert table.matched_per_subset() == {
        "rb/alpacaeval-easy": {"matched": 1, "prompts": 1}, "rb/mt-bench-hard": {"matched": 1, "prompts": 2},
        "xs/xstest-should-respond": {"matched": 0, "prompts": 1}}


def test_empty_benchmark_and_empty_inputs_match_nothing():
    assert build_index(refs("too short")).match(["too short", ""]) == {}
    assert build_index([]).match(["anything at all goes here in this long text"]) == {}
    assert build_index(refs("a b c d e f g h i j k l m n o p")).match([]) == {}
    with pytest.raises(ValueError, match="fields must be one of"):
        Decontaminate(build_index([]), fields="responses")  # type: ignore[arg-type]


def test_match_in_small_slices_gives_the_same_answer(monkeypatch):
    bench = refs("one two three four five six seven eight", "alpha beta gamma delta epsilon zeta eta")
    train = ["x " * 50 + "one two three four five six seven", "nothing", "alpha beta gamma delta epsilon zeta eta",
             "", "y " * 3 + "two three four five six seven eight"]
    whole = build_index(bench).match(train)
    monkeypatch.setattr(index_module, "BATCH_CHARS", 10)  # every text in its own slice
    assert build_index(bench).match(train) == whole and set(whole) == {0, 2, 4}


def test_the_step_runs_the_filter_in_chunks_with_its_reasons_records_and_table4():
    """One step for curation and the stage: decisions with reasons, removed.jsonl records, Table 4."""
    from rewardkit.decontamination.filter import DecontaminationStep

    bench = [RefPrompt(id="7", subset="alpacaeval-easy", text="please write a short poem about the quiet sea at night")]
    removed: list[dict] = []
    step = DecontaminationStep(build_index(bench), "first_user", removed.append, chunk=3)  # a boundary in the pool

    def pair(i, text):
        return PreferencePair(prompt=[{"role": "user", "content": text}], chosen=f"a{i}", rejected=f"b{i}",
                              source="s", source_id=str(i))

    pairs = [pair(0, "Could you write a short poem about the quiet sea at night?"), pair(1, "a poem about the sea"),
             pair(2, "now PLEASE write a short poem about the quiet sea, thanks"), pair(3, "write a short poem about the quiet sea at")]
    decided = list(step.decide(iter(pairs)))  # any iterable: the stage streams, curation passes its pool
    assert [(p.source_id, kept) for p, kept, _ in decided] == [("0", False), ("1", True), ("2", False), ("3", False)]
    assert {reason for _, kept, reason in decided if not kept} == {"shares a 7-gram with benchmark alpacaeval-easy"}
    assert [reason for _, kept, reason in decided if kept] == [None]
    assert [(r["source_id"], r["benchmark_ids"], r["subsets"]) for r in removed] == [
        ("0", ["7"], ["alpacaeval-easy"]), ("2", ["7"], ["alpacaeval-easy"]), ("3", ["7"], ["alpacaeval-easy"])]
    # By hand ("a" is no token): pair 2 reads "now please write short poem about the quiet sea thanks",
    # pair 3 "write short poem about the quiet sea at"; each shares two 7-grams with the benchmark prompt.
    assert removed[1]["ngrams"] == ["please write short poem about the quiet", "write short poem about the quiet sea"]
    assert removed[2]["ngrams"] == ["write short poem about the quiet sea", "short poem about the quiet sea at"]
    assert step.table.rows()[-1] == {"source": "total", "benchmark_prompts_matched": 1, "contaminated_prompts": 3,
                                     "contaminated_pairs": 3, "prompts": 4, "pairs": 4}
