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
