"""One check per number an analysis takes: range, finiteness, whole-ness, and a target within reach of the data."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from scalinglab.analysis import compare_arms, fit_law, rolling_backtest
from scalinglab.config import ConfigError
from scalinglab.config.numbers import check_numbers, check_within_data
from tests.analysis.helpers import arm, crossing_a


@pytest.mark.parametrize(("values", "message"), [
    ({"delta": math.nan}, "delta: must be a finite number in [1e-06, 10], got nan"),
    ({"delta": 0}, "delta: must be a finite number in [1e-06, 10], got 0"),
    ({"delta": 1e300}, "delta: must be a finite number in [1e-06, 10], got 1e+300"),
    ({"seed": -1}, "seed: must be 0 or more, got -1"),
    ({"seed": 1.5}, "seed: expected a whole number, got 1.5"),
    ({"bootstrap": True}, "bootstrap: expected a whole number, got true"),
    ({"bootstrap": 10**8}, "bootstrap: must be at most 100000, got 100000000"),
    ({"level": 1.0}, "level: must be a finite number in (0, 1), got 1.0"),
    ({"target_compute": -math.inf}, "target_compute: must be a finite positive number, got -inf"),
    ({"budget": "1e15"}, "budget: expected a number, got '1e15'"),
])
def test_each_number_is_checked_by_its_rule(values, message):
    with pytest.raises(ConfigError) as err:
        check_numbers(**values)
    assert str(err.value) == message


def test_what_is_not_a_number_or_not_given_is_not_checked():
    check_numbers(law="compute", frontier=None, seed=None, delta=1e-3, bootstrap=0, seed_column="seed")


def test_a_target_below_the_data_is_refused_and_one_above_it_is_a_forecast():
    check_within_data(None, [1e15])
    check_within_data(1e15, [1e15, 1e17])
    check_within_data(1e21, [1e15, 1e17])
    with pytest.raises(ConfigError, match=r"^target_compute: a target of 1e-300 FLOPs is below the data, whose runs "
                                          r"span 1e\+15–1e\+17 FLOPs"):
        check_within_data(1e-300, [1e17, 1e15])


@pytest.fixture(scope="module")
def two_arms() -> pd.DataFrame:
    return pd.concat([arm("a", 2.0, 60.0, 0.1, noise=5e-4, seed=1), arm("b", *crossing_a(1e14), noise=5e-4, seed=2)],
                     ignore_index=True)


@pytest.mark.parametrize(("options", "option"), [
    ({"delta": math.nan}, "delta"), ({"delta": -1.0}, "delta"), ({"seed": -1}, "seed"),
    ({"bootstrap": -5}, "bootstrap"),
])
def test_the_python_api_refuses_them_too(two_arms, options, option):
    with pytest.raises(ConfigError, match=f"^{option}: "):
        fit_law(two_arms, **{"bootstrap": 0} | options)


@pytest.mark.parametrize(("options", "option"), [
    ({"seed": -1}, "seed"), ({"draws": -5}, "draws"), ({"margin": math.nan}, "margin"), ({"level": 2.0}, "level"),
])
def test_the_comparisons_refuse_theirs(two_arms, options, option):
    for call in (lambda: compare_arms(two_arms, "a", "b", **{"draws": 0} | options),
                 lambda: rolling_backtest(two_arms, "a", "b", **{"draws": 0} | options)):
        with pytest.raises(ConfigError, match=f"^{option}: "):
            call()


def test_a_target_below_the_data_is_refused_by_fit_and_compare(two_arms):
    with pytest.raises(ConfigError, match="target_compute: a target of 1e-300 FLOPs is below the data"):
        fit_law(two_arms, bootstrap=0, target_compute=1e-300)
    with pytest.raises(ConfigError, match="target_compute: a target of 1e-300 FLOPs is below the data"):
        compare_arms(two_arms, "a", "b", draws=0, target_compute=1e-300)
