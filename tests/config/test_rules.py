"""Rules are arithmetic, evaluated by walking the tree with limits: never code, never a hang."""

from __future__ import annotations

import time

import pytest

from scalinglab.config import check_rule, evaluate_rule
from scalinglab.config.rules import RuleError


@pytest.mark.parametrize("text", ["__import__('os').system('true')", "width.real", "[width]", "f(width)",
                                  "width if 1 else 2", "lambda: 1", "'a'*9"])
def test_anything_but_arithmetic_is_refused(text):
    with pytest.raises(ValueError, match="cannot parse"):
        check_rule(text)


@pytest.mark.parametrize(("text", "message"), [
    ("9**9**9**9", "too large"), ("width**width**width", "too large"), ("2**-width/0", "divides by zero"),
    ("(width-width)**-1", "divides by zero"), ("(-width)**0.5", "not a real number"),
    ("1e300*width*1e300", "too large"),
])
def test_pathological_rules_fail_at_once(text, message):
    t0 = time.perf_counter()
    with pytest.raises(RuleError, match=message):
        evaluate_rule(check_rule(text), width=64)
    assert time.perf_counter() - t0 < 0.1


def test_rules_still_compute():
    assert evaluate_rule(check_rule("2/width"), width=64) == pytest.approx(2 / 64)
    assert evaluate_rule(check_rule("width^2"), width=64) == 4096.0
    assert check_rule(" 0.002 ") == 0.002


def test_a_rule_may_choose_by_a_comparison():
    rule = check_rule("1 if width < 1024 else 8")
    assert [evaluate_rule(rule, width=w) for w in (512, 1023, 1024, 2048)] == [1.0, 1.0, 8.0, 8.0]
    chained = check_rule("2 if 256 <= width < 1024 else 4 if width >= 1024 else 1")
    assert [evaluate_rule(chained, width=w) for w in (128, 256, 1024)] == [1.0, 2.0, 4.0]
    with pytest.raises(RuleError, match="divides by zero at width 64"):
        evaluate_rule(check_rule("1 if 1/(width-64) > 0 else 2"), width=64)


@pytest.mark.parametrize("text", ["width < 1024", "1 if width else 2", "1 if width in (1, 2) else 2",
                                  "1 if width < 1024 and width > 2 else 8", "1 if widht < 3 else 2"])
def test_a_comparison_is_only_a_condition_over_known_names(text):
    with pytest.raises(ValueError, match="cannot parse"):
        check_rule(text)
