"""The one valid-conversation rule: each rule broken once, at the message it names; the scorer refuses
what the rule refuses, naming the conversation's index."""

from __future__ import annotations

import pytest

from rewardkit.data import conversation as rule
from rewardkit.data.conversation import InvalidConversation, check_conversation, check_conversations, why_invalid


def _m(role, content="text"):
    return {"role": role, "content": content}


VALID = [
    [_m("user"), _m("assistant")],
    [_m("system"), _m("user"), _m("assistant")],
    [_m("user"), _m("assistant"), _m("user"), _m("assistant")],
    [_m("system", "be brief"), _m("user"), _m("assistant"), _m("user"), _m("assistant")],
]

# conversation -> (rule broken, message index named)
INVALID = {
    "not a list": ("hello", rule.NOT_A_LIST, None),
    "empty": ([], rule.EMPTY, None),
    "message not a dict": ([_m("user"), "assistant: hi"], rule.BAD_MESSAGE, 1),
    "content not a string": ([_m("user"), {"role": "assistant", "content": None}], rule.BAD_MESSAGE, 1),
    "no role": ([{"content": "x"}, _m("assistant")], rule.BAD_MESSAGE, 0),
    "unknown role": ([_m("user"), _m("robot")], rule.UNKNOWN_ROLE, 1),
    "blank user turn": ([_m("user", " \n"), _m("assistant")], rule.EMPTY_TURN, 0),
    "blank final answer": ([_m("user"), _m("assistant", "")], rule.EMPTY_TURN, 1),
    "blank middle turn": ([_m("user"), _m("assistant", "\t"), _m("user"), _m("assistant")], rule.EMPTY_TURN, 1),
    "system in the middle": ([_m("user"), _m("system"), _m("assistant")], rule.SYSTEM_NOT_FIRST, 1),
    "two systems": ([_m("system"), _m("system"), _m("user"), _m("assistant")], rule.SYSTEM_NOT_FIRST, 1),
    "starts with assistant": ([_m("assistant"), _m("user"), _m("assistant")], rule.NOT_ALTERNATING, 0),
    "two assistant turns": ([_m("user"), _m("assistant"), _m("assistant")], rule.NOT_ALTERNATING, 2),
    "two user turns": ([_m("user"), _m("user"), _m("assistant")], rule.NOT_ALTERNATING, 1),
    "ends with the user": ([_m("user"), _m("assistant"), _m("user")], rule.WRONG_LAST_TURN, 2),
    "user turn only": ([_m("user")], rule.WRONG_LAST_TURN, 0),
    "system turn only": ([_m("system")], rule.WRONG_LAST_TURN, 0),
}


@pytest.mark.parametrize("conv", VALID)
def test_valid_conversations_pass(conv):
    assert why_invalid(conv) is None
    check_conversation(conv)


@pytest.mark.parametrize("name", list(INVALID))
def test_each_rule_names_itself_and_the_message(name):
    conv, broken, turn = INVALID[name]
    problem = why_invalid(conv)
    assert (problem.rule, problem.turn) == (broken, turn)
    with pytest.raises(InvalidConversation) as exc:
        check_conversation(conv)
    assert str(exc.value).startswith(broken)


def test_a_prompt_is_checked_with_the_same_rules_ending_on_the_user():
    assert why_invalid([_m("system"), _m("user")], ends_with="user") is None
    assert why_invalid([_m("user"), _m("assistant")], ends_with="user").rule == rule.WRONG_LAST_TURN
    assert why_invalid([_m("user"), _m("user")], ends_with="user").turn == 1


def test_a_batch_error_names_the_first_bad_conversation_index():
    convs = [VALID[0], VALID[1], [_m("user"), _m("assistant"), _m("assistant")], [_m("user")]]
    with pytest.raises(InvalidConversation) as exc:
        check_conversations(convs)
    assert exc.value.index == 2
    assert str(exc.value) == ("conversation 2: roles do not alternate user/assistant "
                              "(message 2: assistant turn where a user turn belongs)")


def test_the_scorer_refuses_what_the_rule_refuses():
    from rewardkit.models.scoring import RewardModel
    from tiny_models import tiny_llama, tiny_tokenizer

    rm = RewardModel(tiny_llama(), tiny_tokenizer())
    good = [[_m("user", "hi"), _m("assistant", "hello")]]
    assert len(rm.score(good, progress=False)) == 1
    with pytest.raises(InvalidConversation) as exc:
        rm.score(good + [[_m("user", "hi")]], progress=False)
    assert exc.value.index == 1 and exc.value.problem.rule == rule.WRONG_LAST_TURN
