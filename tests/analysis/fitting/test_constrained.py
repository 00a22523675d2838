"""The data-constrained law (Muennighoff et al. 2023): planted truths recovered, its parts checked, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime
from typer.testing import CliRunner

import scalinglab.cli.analysis  # noqa: F401  (registers fit)
from scalinglab.analysis.fitting.constrained import (
    LAW,
    PAPER_R_D_STAR,
    PAPER_R_N_STAR,
    _objective,
    _params_to_theta,
    fit_data_constrained,
    log_loss,
)
from scalinglab.cli.app import app
from scalinglab.config import ConfigError

# Muennighoff et al. 2023's fit (their Eq. 7 and Appendix): Chinchilla-like terms and the two decay constants.
PAPER = {"E": 1.87, "A": 521.0, "B": 1488.0, "alpha": 0.353, "beta": 0.353, "R_D_star": PAPER_R_D_STAR,
         "R_N_star": PAPER_R_N_STAR}


def planted(truth=PAPER, noise: float = 0.0, seed: int = 0, params=(1e7, 1e8, 1e9)) -> pd.DataFrame:
    """Runs at 3 sizes × 3 unique-data sizes × 5 epoch counts (a half epoch to 60), losses from `truth`
    times log-normal noise. N_opt(U) ≈ 0.05·U here, so the large models have excess parameters."""
    n, u, ep = (a.ravel() for a in np.meshgrid(params, [1e8, 1e9, 1e10], [0.5, 2, 6, 20, 60], indexing="ij"))
    theta = _params_to_theta(np.array([truth[k] for k in LAW.param_names]))
    y = log_loss(theta, np.log(n), np.log(ep * u), np.log(u))
    loss = np.exp(y + np.random.default_rng(seed).normal(0.0, noise, len(y)))
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(len(y))], "params": n, "tokens": ep * u,
                         "unique_tokens": u, "loss": loss})


def _fit(df: pd.DataFrame, **kw):
    return fit_data_constrained(df["params"], df["tokens"], df["unique_tokens"], df["loss"], df["run_id"], **kw)


@pytest.fixture(scope="module")
def exact_fit():
    return _fit(planted(), bootstrap=0)


def test_a_noiseless_planted_truth_is_recovered_exactly(exact_fit):
    fit = exact_fit
    assert fit.status == "ok" and fit.identified == {"R_D_star": True, "R_N_star": True}
    assert fit.params == pytest.approx(PAPER, rel=1e-3)


def test_a_noisy_planted_truth_is_recovered_within_its_noise():
    fit = _fit(planted(noise=0.003, seed=1), bootstrap=50, seed=0)
    assert fit.status == "ok"
    for name, rel in (("E", 0.02), ("alpha", 0.03), ("beta", 0.03), ("R_D_star", 0.1), ("R_N_star", 0.1)):
        assert fit.params[name] == pytest.approx(PAPER[name], rel=rel), name
    lo, hi = fit.interval("R_D_star")
    assert lo < fit.params["R_D_star"] < hi and hi / lo < 1.5
    assert np.std(fit.residuals) == pytest.approx(0.003, rel=0.4)


def test_repeated_data_is_worth_less_and_saturates_at_one_plus_r_star_epochs(exact_fit):
    fit = exact_fit
    u = 1e9
    _, d_once = fit.effective(1e6, u, u)
    _, d_four = fit.effective(1e6, 4 * u, u)
    _, d_many = fit.effective(1e6, 1e6 * u, u)
    assert d_once[0] == pytest.approx(u)
    # Three repetitions: Σ worth of each = R*(1 − e^(−3/R*)) ≈ 2.72 epochs of fresh data, not 3.
    assert d_four[0] == pytest.approx(u * (1 + PAPER_R_D_STAR * (1 - np.exp(-3 / PAPER_R_D_STAR))), rel=1e-6)
    assert d_four[0] < 4 * u and d_many[0] == pytest.approx(u * (1 + PAPER_R_D_STAR), rel=1e-6)
    # Less than an epoch: the unique tokens seen are the tokens trained, L(N, D) of Hoffmann et al.
    assert fit.effective(1e6, 0.5 * u, u)[1][0] == pytest.approx(0.5 * u)


def test_the_gradient_is_the_objectives():
    df = planted(noise=0.01, seed=2)
    args = tuple(np.log(df[c].to_numpy()) for c in ("params", "tokens", "unique_tokens", "loss"))
    for truth in (PAPER, PAPER | {"A": 50.0, "alpha": 0.25, "R_D_star": 3.0, "R_N_star": 20.0}):
        theta = _params_to_theta(np.array([truth[k] for k in LAW.param_names]))
        for delta in (1e-3, 1.0):  # in the Huber's linear part and in its quadratic part
            rest = (*args, np.ones(len(df)), delta)
            _, grad = _objective(theta, *rest)
            numeric = approx_fprime(theta, lambda t: _objective(t, *rest)[0], 1e-7)
            assert grad == pytest.approx(numeric, rel=1e-3, abs=1e-6 * np.abs(numeric).max())


def test_without_excess_parameters_r_n_star_is_not_measured():
    fit = _fit(planted(params=(1e5, 3e5, 1e6)), bootstrap=20)  # all below N_opt(U) ≈ 5e6
    assert fit.identified["R_N_star"] is False and fit.params["R_N_star"] == PAPER_R_N_STAR
    assert np.isnan(fit.interval("R_N_star")).all() and not np.isnan(fit.interval("R_D_star")).any()
    assert fit.params["R_D_star"] == pytest.approx(PAPER_R_D_STAR, rel=1e-3)


def test_cli_says_what_a_repetition_is_worth(tmp_path):
    path = tmp_path / "runs.csv"
    planted(params=(1e5, 3e5, 1e6)).to_csv(path, index=False)
    res = CliRunner().invoke(app, ["fit", str(path), "--law", "data-constrained", "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    assert "R_D_star" in res.stdout and "repeated data is worth at most 16.4 epochs of fresh data" in res.stdout
    assert "R_N* is not measured (Muennighoff et al.'s 5.31 is used)" in res.stdout


def test_without_repeated_rows_there_is_nothing_to_measure():
    df = planted()
    once = df[df["tokens"] <= df["unique_tokens"]]
    with pytest.raises(ConfigError, match="no row repeats data"):
        _fit(once, bootstrap=0)


def test_cli_fits_the_law_and_names_the_missing_column(tmp_path):
    path = tmp_path / "runs.csv"
    planted().rename(columns={"unique_tokens": "U"}).to_csv(path, index=False)
    runner = CliRunner()
    res = runner.invoke(app, ["fit", str(path), "--law", "data-constrained", "--unique-tokens", "U",
                              "--bootstrap", "0", "--json"])
    assert res.exit_code == 0, res.output
    fit = json.loads(res.stdout)["fits"][0]
    assert fit["params"]["R_D_star"] == pytest.approx(PAPER_R_D_STAR, rel=1e-3)
    assert fit["n_repeated"] == 36 and fit["identified"] == {"R_D_star": True, "R_N_star": True}
    for args, message in ((["--law", "data-constrained"], "runs.csv: --unique-tokens: column 'unique_tokens' not found"),
                          (["--unique-tokens", "U"], "--unique-tokens: only for --law data-constrained")):
        res = runner.invoke(app, ["fit", str(path), *args])
        assert res.exit_code == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), res.stderr
