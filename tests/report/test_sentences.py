"""An adaptive study's decisions are stored as reason codes and numbers; these are their words."""

from __future__ import annotations

import json

from scalinglab.report.sentences import decision_reason, ending, plan_sentence

STATE = {"p": 0.6, "p_equivalent": 0.1, "level": 0.9993, "plan": {"runs": 4, "settles": 0.02}, "budget": 3.7e13}


def test_a_strict_look_s_level_is_said_as_it_is_not_rounded_to_certainty():
    said = plan_sentence(4, 0.68, 0.99931)
    assert "rest of the plan (4 runs)" in said and "(99.93%)" in said and "68%" in said and "100%" not in said
    assert plan_sentence(None, None, 0.95) == "no run of the plan is left to train"


def test_every_reason_code_reads_with_the_arms_names_and_the_budget():
    settled = decision_reason(STATE | {"code": "settled", "verdict": "b"}, "constant", "scaled")
    assert settled.startswith("scaled better: P(scaled better) = 0.600") and settled.endswith("(budget 3.7e+13 FLOPs)")
    reach = decision_reason(STATE | {"code": "out_of_reach"}, "constant", "scaled")
    assert "(not settled); training the rest of the plan (4 runs)" in reach
    train = decision_reason(STATE | {"code": "train", "chosen": [{"label": "w80 scaled", "gain": 0.395, "cost": 5.12e12,
                                                                 "settles": 0.0}]}, "constant", "scaled")
    assert train.startswith("w80 scaled: expected drop 0.395 bits of uncertainty for 5.12e+12 FLOPs")
    assert "budget" in decision_reason({"code": "budget", "left": 1e12} | STATE, "a", "b")
    assert "did not finish" in decision_reason({"code": "failed", "runs": ["w32-x"]}, "a", "b")


def test_a_reason_stored_as_json_or_as_words_from_an_older_study_reads_the_same_way():
    why = {"code": "first_round", "widths": 3, "budget": 1e13}
    assert decision_reason(json.dumps(why), "a", "b") == decision_reason(why, "a", "b")
    assert decision_reason("each arm's 3 smallest widths first", "a", "b") == "each arm's 3 smallest widths first"
    assert ending("settled") == "settled" and ending("something new") == "something new"
