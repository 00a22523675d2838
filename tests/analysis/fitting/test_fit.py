"""The fitters recover known laws from synthetic data; results predict, carry intervals, refuse too few points."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from scalinglab.analysis import COMPUTE, PARAMS_TOKENS, compute_optimal, fit_law, fit_points
from scalinglab.analysis.fitting.optimize import fit_grid, fit_varpro
from scalinglab.config import ConfigError
from tests.analysis.helpers import arm, ladder, params_tokens_table


@pytest.mark.parametrize("method", ["grid", "varpro"])
def test_compute_law_recovers_exact_parameters(method):
    df = arm("a", 1.9, 80.0, 0.12)
    fit = fit_law(df, method=method, bootstrap=0)["a"]
    assert fit.status == "ok" and fit.method == method
    np.testing.assert_allclose([fit.params["E"], fit.params["A"], fit.params["alpha"]], [1.9, 80.0, 0.12], rtol=1e-4)
    assert fit.objective < 1e-12


def test_params_tokens_law_recovers_parameters_from_noisy_points_with_both_methods():
    df = params_tokens_table(noise=0.005)
    grid = fit_law(df, "params-tokens", bootstrap=0)["all"]
    varpro = fit_law(df, "params-tokens", method="varpro", bootstrap=0)["all"]
    truth = {"E": 1.7, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.28}
    for name, value in truth.items():
        assert grid.params[name] == pytest.approx(value, rel=0.15 if name in "AB" else 0.03), name
        assert varpro.params[name] == pytest.approx(grid.params[name], rel=1e-4), name


def test_bootstrap_intervals_cover_the_truth_and_predictions_are_banded():
    df = arm("a", 2.0, 60.0, 0.1, noise=0.003, widths=np.geomspace(64, 2048, 12).round())
    fit = fit_law(df, bootstrap=150, seed=1)["a"]
    assert fit.draws.samples.shape == (150 - fit.draws.n_failed, 3)
    assert fit.draws.n_failed < 15
    lo, hi = fit.interval("alpha")
    assert lo < 0.1 < hi and hi - lo < 0.05
    c = np.geomspace(1e12, 1e24, 5)  # the data span 1e12–3e20
    band_lo, band_hi = fit.predict_interval(c)
    mid = fit.predict(c)
    assert mid.shape == band_lo.shape == (5,)
    assert np.all(band_lo <= mid) and np.all(mid <= band_hi)
    width = band_hi - band_lo
    assert width[-1] > 1.5 * width[2]  # the band widens away from the data
    truth = 2.0 + 60.0 * c**-0.1
    assert np.all((band_lo < truth) & (truth < band_hi))


def test_bootstrap_is_seeded_and_resamples_runs_not_rows():
    df = arm("a", 2.0, 60.0, 0.1, noise=0.003)
    one = fit_law(df, bootstrap=20, seed=3)["a"].draws.samples
    two = fit_law(df, bootstrap=20, seed=3)["a"].draws.samples
    np.testing.assert_array_equal(one, two)
    # Two rows of each run (e.g. two evals of one checkpoint): a resample keeps or drops them together.
    _, _, _, c = ladder()
    doubled = np.repeat(c, 2)[:, None]
    loss = np.repeat(2.0 + 60.0 * c**-0.1, 2) * np.exp(np.random.default_rng(0).normal(0, 0.003, 2 * len(c)))
    fit = fit_points(COMPUTE, doubled, loss, np.repeat(np.arange(len(c)), 2), bootstrap=10)
    assert fit.n_runs == len(c) and fit.n_points == 2 * len(c)


def test_fewer_points_than_parameters_is_refused():
    df = arm("a", 2.0, 60.0, 0.1).head(2)
    df.attrs["source"] = "runs.csv"
    with pytest.raises(ConfigError, match=r"runs.csv: group 'a': 2 distinct points, fewer than the 3 parameters of L\(C\)"):
        fit_law(df, bootstrap=0)
    # Five runs at one compute are one point: no law can be fitted through them (issue 11's degenerate fit).
    same = arm("a", 2.0, 60.0, 0.1).head(5).assign(compute=1e15, loss=3.0)
    same.attrs["source"] = "runs.csv"
    with pytest.raises(ConfigError, match=r"group 'a': 1 distinct point \(5 rows\), fewer than the 3 parameters"):
        fit_law(same, bootstrap=10)


def test_as_many_points_as_parameters_is_an_exact_fit_without_a_bootstrap():
    fit = fit_law(arm("a", 2.0, 60.0, 0.1, noise=0.003).head(3), bootstrap=50)["a"]
    assert fit.status == "exact" and fit.draws is None and not fit.has_spread


def test_few_runs_resample_residuals_many_runs_resample_runs():
    few = fit_law(arm("a", 2.0, 60.0, 0.1, noise=0.003), bootstrap=20)["a"]
    assert few.resampling == "residuals" and len(few.draws.samples) > 15
    many = arm("a", 2.0, 60.0, 0.1, noise=0.003, widths=np.geomspace(64, 4096, 24).round())
    assert fit_law(many, bootstrap=20)["a"].resampling == "runs"


def test_grid_and_varpro_agree_whatever_the_grid_prunes():
    df = params_tokens_table(noise=0.02, seed=5)
    log_x = np.log(df[["params", "tokens"]].to_numpy())
    y = np.log(df["loss"].to_numpy())
    few = fit_grid(PARAMS_TOKENS, log_x, y, max_starts=4)
    vp = fit_varpro(PARAMS_TOKENS, log_x, y)
    assert few.objective == pytest.approx(vp.objective, rel=1e-6)


def test_compute_optimal_allocation_minimises_loss_at_fixed_compute():
    fit = fit_law(params_tokens_table(noise=0.005), "params-tokens", bootstrap=30)["all"]
    c = 1e21
    alloc = compute_optimal(fit, c)
    e, a, b, alpha, beta = fit.vector
    best = minimize_scalar(lambda ln: e + a * np.exp(-alpha * ln) + b * (c / (6 * np.exp(ln))) ** -beta,
                           bounds=(10, 40), method="bounded", options={"xatol": 1e-10})
    assert alloc.params == pytest.approx(np.exp(best.x), rel=1e-4)
    assert alloc.tokens == pytest.approx(c / (6 * alloc.params))
    assert alloc.tokens_per_param == pytest.approx(alloc.tokens / alloc.params)
    assert alloc.loss == pytest.approx(float(fit.predict(alloc.params, alloc.tokens)[0]))
    lo, hi = alloc.intervals["params"]
    assert lo < alloc.params < hi
    with pytest.raises(ConfigError, match="needs a law of N and D, not .compute."):
        compute_optimal(fit_law(arm("a", 2.0, 60.0, 0.1), bootstrap=0)["a"], c)


def test_results_serialise_to_plain_json():
    import json

    report = fit_law(arm("a", 2.0, 60.0, 0.1, noise=0.003), bootstrap=10, target_compute=1e18)
    d = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert d["fits"][0]["params"]["alpha"] == pytest.approx(report["a"].params["alpha"])
    assert set(d["predictions"]["a"]) == {"compute", "loss", "interval"}


def test_a_fit_prints_for_a_person_and_its_repr_is_one_line():
    report = fit_law(arm("scaled", 2.0, 40.0, 0.1, noise=5e-3, seed=3), bootstrap=50, seed=1)
    fit = report["scaled"]
    text = str(fit)
    head, values = text.splitlines()
    assert head == f"scaled: L(C) = E + A·C^-alpha, fitted to {fit.n_points} points (status {fit.status})"
    for name in ("E", "A", "alpha"):
        lo, hi = fit.interval(name)
        assert f"{name} = {fit.params[name]:.4g} [{lo:.4g}, {hi:.4g}]" in values
    assert values.endswith("(95% intervals from 50 bootstrap resamples of residuals)")
    assert repr(fit).startswith("<LawFit scaled: L(C) = E + A·C^-alpha; E=") and "\n" not in repr(fit)
    assert "residuals=" not in repr(fit) and len(repr(fit)) < 120  # not the dataclass's dump of its arrays
    assert str(report) == text and repr(report) == f"<FitReport L(C) = E + A·C^-alpha on {report.source}: 'scaled'>"
    exact = fit_law(arm("e", 2.0, 40.0, 0.1, widths=np.array([64, 128, 256])))["e"]
    assert str(exact).endswith("(no intervals: as many distinct points as parameters, the curve passes through them)")
