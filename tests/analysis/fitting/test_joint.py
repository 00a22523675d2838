"""Joint models recover planted truths, nest as they should, and are weighed by the data they fit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2
from scipy.stats import f as f_dist

from scalinglab.analysis import COMPUTE, PARAMS_TOKENS, select_runs
from scalinglab.analysis.fitting.bootstrap import run_leverage
from scalinglab.analysis.fitting.joint import (
    MIN_RESIDUAL_DOF,
    deviance,
    joint_jacobian,
    layout,
    seen_directions,
    unit_covariance,
)
from scalinglab.analysis.fitting.models import calibrated_gain, criteria, fit_models, model_weights
from tests.analysis.helpers import arm, grid_arm, nd_law

WIDTHS = np.geomspace(64, 2048, 10).round()


def rows(df, name):
    frame = select_runs(df).frame
    return frame[frame["group"] == name]


def test_layout_shares_the_named_parameters():
    lay = layout(COMPUTE, "E")
    assert lay.n_free == 5 and lay.shared == ("E",)
    assert lay.index[0, 0] == lay.index[1, 0] and lay.index[0, 1] != lay.index[1, 1]
    both = layout(PARAMS_TOKENS, "E+exponents")
    assert both.n_free == 7 and both.shared == ("E", "alpha", "beta")
    assert layout(PARAMS_TOKENS, "none").n_free == 10


@pytest.mark.parametrize(("sharing", "truth_b"), [
    ("E+exponents", (2.0, 80.0, 0.1)),   # parallel: only A differs
    ("E", (2.0, 200.0, 0.14)),           # one E, different slopes
    ("none", (1.7, 60.0, 0.1)),          # nothing in common
])
def test_each_joint_model_recovers_its_planted_truth(sharing, truth_b):
    a, b = arm("a", 2.0, 60.0, 0.1, widths=WIDTHS), arm("b", *truth_b, widths=WIDTHS)
    choice = fit_models(rows(a, "a"), rows(b, "b"), COMPUTE, ("a", "b"), sharing=sharing, draws=0)
    fit = choice.best
    np.testing.assert_allclose(fit.fit_a.vector, [2.0, 60.0, 0.1], rtol=2e-3)
    np.testing.assert_allclose(fit.fit_b.vector, truth_b, rtol=2e-3)
    assert fit.fit_a.shared == layout(COMPUTE, sharing).shared


def test_more_sharing_never_fits_better_and_the_criterion_prefers_the_true_structure():
    # Parallel truth with noise: every model fits, the parallel one needs fewer parameters.
    a = arm("a", 2.0, 60.0, 0.1, noise=0.003, seed=1, widths=WIDTHS)
    b = arm("b", 2.0, 75.0, 0.1, noise=0.003, seed=2, widths=WIDTHS)
    parallel = fit_models(rows(a, "a"), rows(b, "b"), COMPUTE, ("a", "b"), draws=0)
    j = {s: f.objective for s, f in parallel.fits.items()}
    assert j["none"] <= j["E"] * (1 + 1e-6) and j["E"] <= j["E+exponents"] * (1 + 1e-6)
    assert parallel.chosen == "E+exponents"
    # Slopes that differ a lot: the parallel model cannot fit, and loses its weight.
    c = arm("b", 2.0, 400.0, 0.16, noise=0.003, seed=2, widths=WIDTHS)
    steeper = fit_models(rows(a, "a"), rows(c, "b"), COMPUTE, ("a", "b"), draws=0)
    assert steeper.fits["E+exponents"].weight < 0.01 and steeper.chosen in ("E", "none")


@pytest.mark.parametrize("sharing", ["none", "E", "E+exponents"])
def test_joint_jacobian_is_the_derivative_of_the_prediction(sharing):
    lay = layout(PARAMS_TOKENS, sharing)
    theta = np.linspace(0.1, 1.0, lay.n_free) * np.where(np.arange(lay.n_free) < 3, 3.0, 0.4)
    log_x = np.log([[1e7, 2e8], [3e8, 6e9], [2e9, 4e10]])
    for side in (0, 1):
        def log_loss(t):
            return np.log(PARAMS_TOKENS.predict(lay.split(t)[side], log_x))
        steps = np.eye(lay.n_free) * 1e-6
        numeric = np.stack([(log_loss(theta + h) - log_loss(theta - h)) / 2e-6 for h in steps], axis=1)
        np.testing.assert_allclose(joint_jacobian(lay, theta, side, log_x), numeric, rtol=1e-5, atol=1e-8)


def test_joint_params_tokens_fit_recovers_a_shared_e_on_grids():
    a = grid_arm("a", nd_law(1.8, 400.0, 1500.0, 0.34, 0.28))
    b = grid_arm("b", nd_law(1.8, 300.0, 2500.0, 0.30, 0.30))
    fit = fit_models(rows(a, "a"), rows(b, "b"), PARAMS_TOKENS, ("a", "b"), sharing="E", draws=0).best
    np.testing.assert_allclose(fit.fit_b.vector, [1.8, 300.0, 2500.0, 0.30, 0.30], rtol=0.02)


def test_the_posterior_is_paired_and_covers_the_truth():
    a = arm("a", 2.0, 60.0, 0.1, noise=0.004, seed=3, widths=WIDTHS)
    b = arm("b", 2.0, 200.0, 0.14, noise=0.004, seed=4, widths=WIDTHS)
    choice = fit_models(rows(a, "a"), rows(b, "b"), COMPUTE, ("a", "b"), sharing="E", draws=800, seed=0)
    draws = choice.best.draws
    assert draws.samples.shape == (800, 2, 3) and 0.15 < draws.acceptance < 0.6
    # One E per draw for both arms: the posterior keeps the sharing.
    np.testing.assert_array_equal(draws.samples[:, 0, 0], draws.samples[:, 1, 0])
    lo, hi = choice.best.fit_b.interval("alpha")
    assert lo < 0.14 < hi


def test_the_deviance_counts_runs_and_refuses_a_model_it_cannot_weigh():
    # −2·log L of least squares with its scale fitted: n·log(RSS/n), n runs (constants dropped).
    assert deviance(0.09, 9, 5) == pytest.approx(9 * np.log(0.01))
    assert deviance(0.09, 9, 9 - MIN_RESIDUAL_DOF + 1) == np.inf


def test_model_weights():
    free = {"none": 6, "E": 5, "E+exponents": 4}
    w = model_weights({"none": 10.0, "E": 8.0, "E+exponents": 12.0}, free)
    assert w["E"] == pytest.approx(1 / (1 + np.exp(-1) + np.exp(-2)))
    assert sum(w.values()) == pytest.approx(1.0)
    # An exact fit cannot be weighed and gets no weight; if none can be, the fewest parameters take it.
    assert model_weights({"none": np.inf, "E": 3.0, "E+exponents": 3.0}, free)["none"] == 0.0
    assert model_weights(dict.fromkeys(free, np.inf), free) == {"none": 0.0, "E": 0.0, "E+exponents": 1.0}


def test_a_gain_in_fit_is_read_at_its_exact_small_sample_distribution():
    # Nine runs, and a model with one more parameter that leaves 0.27 of the residual sum of squares:
    # the F-test's p is 0.065 on its 3 degrees of freedom, the χ²(1) value as far in its tail 3.4. AIC
    # read the deviance gain, 9·log(1/0.27) = 11.8, as it stands and gave the model weight 0.99; read
    # at its small-sample distribution, against BIC's log 9 per parameter, it has about two thirds.
    free = {"E": 6, "E+exponents": 5}
    deviance = {"E": 9 * np.log(0.27), "E+exponents": 0.0}  # Gaussian: Δdeviance = n·log(RSS ratio)
    assert calibrated_gain(deviance["E"], 9, 6, 5) == pytest.approx(chi2.isf(f_dist.sf(8.11, 1, 3), 1), rel=1e-3)
    assert 0.5 < model_weights(criteria(deviance, free, 9), free)["E"] < 0.8
    # With many runs the F-test's scale is χ²'s, and the criterion is BIC's: log n·Δk − gain.
    gain, n = 6.0, 4000
    bic = criteria({"E": -gain, "E+exponents": 0.0}, free, n)["E"]
    assert bic == pytest.approx(np.log(n) - gain, abs=0.05)
    # No gain is no evidence (its weight shrinks as runs grow); a model that cannot be weighed stays
    # so; the base scores 0.
    assert criteria({"E": 0.0, "E+exponents": 0.0}, free, 9) == pytest.approx({"E": np.log(9), "E+exponents": 0.0})
    assert criteria({"E": np.inf, "E+exponents": 1.0}, free, 9) == {"E": np.inf, "E+exponents": 0.0}


def test_a_run_s_leverage_is_its_hat_value_whatever_its_checkpoints():
    # Five runs on L(C): the leverages are the hat values, sum to the three parameters, and are
    # largest at the ends of the ladder. Each run's row given twice (two identical checkpoints)
    # leaves every run's leverage as it was.
    theta = COMPUTE.to_theta(np.array([2.0, 60.0, 0.1]))
    log_x = np.log(np.geomspace(1e15, 1e19, 5))[:, None]
    jac = COMPUTE.log_loss_jacobian(theta, log_x)
    h = run_leverage(jac, np.arange(5), unit_covariance(jac))
    np.testing.assert_allclose(h, np.diag(jac @ np.linalg.pinv(jac.T @ jac) @ jac.T), rtol=1e-8)
    assert h.sum() == pytest.approx(3.0) and h[0] > h[2] < h[4]
    twice = np.repeat(jac, 2, axis=0)
    np.testing.assert_allclose(run_leverage(twice, np.repeat(np.arange(5), 2), unit_covariance(twice)), h, rtol=1e-8)


@pytest.mark.parametrize("sharing", ["none", "E"])
def test_a_swapped_model_is_the_same_model_with_the_arms_exchanged(sharing):
    a = arm("a", 2.0, 60.0, 0.1, noise=0.003, seed=1, widths=WIDTHS)
    b = arm("b", 2.0, 75.0, 0.12, noise=0.003, seed=2, widths=WIDTHS)
    joint = fit_models(rows(a, "a"), rows(b, "b"), COMPUTE, ("a", "b"), sharing=sharing, draws=100).best
    swapped = joint.swapped()
    np.testing.assert_allclose(swapped.theta, swapped.layout.join(COMPUTE.to_theta(joint.fit_b.vector),
                                                                  COMPUTE.to_theta(joint.fit_a.vector)))
    np.testing.assert_allclose(swapped.draws.samples, joint.draws.samples[:, ::-1, :])
    # The covariance's slots are exchanged with the arms: the variance of a fitted difference between
    # pairs at unequal compute reads the same from either side.
    x_a, x_b = np.log([[1e15], [1e17]]), np.log([[3e15], [2e16]])

    def variance(model, first, second):
        c = model.difference_jacobian(first, second)
        return np.einsum("ni,ij,nj->n", c, model.unit_covariance, c)

    np.testing.assert_allclose(variance(swapped, x_b, x_a), variance(joint, x_a, x_b), rtol=1e-6)


def test_the_directions_rows_see_leave_out_a_column_that_vanished():
    rng = np.random.default_rng(0)
    jac = rng.standard_normal((12, 4))
    jac[:, 2] = 0.0  # an E at zero: its column is nothing
    seen = seen_directions(jac)
    assert seen.shape == (4, 3)
    assert np.allclose(seen.T @ seen, np.eye(3))
    assert np.allclose(seen[2], 0.0)
    assert seen_directions(rng.standard_normal((12, 4))).shape == (4, 4)
