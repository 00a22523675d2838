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
    DATA_CONSTRAINED,
    PAPER_R_D_STAR,
    PAPER_R_N_STAR,
    effective,
    fit_data_constrained,
)
from scalinglab.analysis.fitting.fit import fit_points
from scalinglab.analysis.fitting.laws import PARAMS_TOKENS, frontier_loss
from scalinglab.analysis.fitting.optimize import objective
from scalinglab.cli.app import app
from scalinglab.config import ConfigError

# Muennighoff et al. 2023's fit (their Eq. 7 and Appendix): Chinchilla-like terms and the two decay constants.
PAPER = {"E": 1.87, "A": 521.0, "B": 1488.0, "alpha": 0.353, "beta": 0.353, "R_D_star": PAPER_R_D_STAR,
         "R_N_star": PAPER_R_N_STAR}


def planted(truth=PAPER, noise: float = 0.0, seed: int = 0, params=(1e7, 1e8, 1e9)) -> pd.DataFrame:
    """Runs at 3 sizes × 3 unique-data sizes × 5 epoch counts (a half epoch to 60), losses from `truth`
    times log-normal noise. N_opt(U) ≈ 0.05·U here, so the large models have excess parameters."""
    n, u, ep = (a.ravel() for a in np.meshgrid(params, [1e8, 1e9, 1e10], [0.5, 2, 6, 20, 60], indexing="ij"))
    log_x = np.log(np.column_stack([n, ep * u, u]))
    y = DATA_CONSTRAINED.log_loss(DATA_CONSTRAINED.to_theta(_vector(truth)), log_x)
    loss = np.exp(y + np.random.default_rng(seed).normal(0.0, noise, len(y)))
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(len(y))], "params": n, "tokens": ep * u,
                         "unique_tokens": u, "loss": loss})


def _vector(params: dict) -> np.ndarray:
    return np.array([params[k] for k in DATA_CONSTRAINED.param_names])


def _fit(df: pd.DataFrame, **kw):
    return fit_data_constrained(df["params"], df["tokens"], df["unique_tokens"], df["loss"], df["run_id"], **kw)


@pytest.fixture(scope="module")
def exact_fit():
    return _fit(planted(), bootstrap=0)


def test_a_noiseless_planted_truth_is_recovered_exactly(exact_fit):
    fit = exact_fit
    assert fit.law is DATA_CONSTRAINED and fit.status == "ok" and fit.unmeasured == ()
    assert fit.params == pytest.approx(PAPER, rel=1e-6)


def test_a_noisy_planted_truth_is_recovered_within_its_noise():
    fit = _fit(planted(noise=0.003, seed=1), bootstrap=50, seed=0)
    assert fit.status == "ok"
    for name, rel in (("E", 0.01), ("alpha", 0.02), ("beta", 0.02), ("R_D_star", 0.06), ("R_N_star", 0.06)):
        assert fit.params[name] == pytest.approx(PAPER[name], rel=rel), name
    lo, hi = fit.interval("R_D_star")
    assert lo < fit.params["R_D_star"] < hi and lo < PAPER_R_D_STAR < hi and hi / lo < 1.2
    assert np.std(fit.residuals) == pytest.approx(0.003, rel=0.4)


def test_repeated_data_is_worth_less_and_saturates_at_one_plus_r_star_epochs(exact_fit):
    fit = exact_fit
    u = 1e9
    _, d_once = effective(fit, 1e6, u, u)
    _, d_four = effective(fit, 1e6, 4 * u, u)
    _, d_many = effective(fit, 1e6, 1e6 * u, u)
    assert d_once[0] == pytest.approx(u)
    # Three repetitions: Σ worth of each = R*(1 − e^(−3/R*)) ≈ 2.72 epochs of fresh data, not 3.
    assert d_four[0] == pytest.approx(u * (1 + PAPER_R_D_STAR * (1 - np.exp(-3 / PAPER_R_D_STAR))), rel=1e-6)
    assert d_four[0] < 4 * u and d_many[0] == pytest.approx(u * (1 + PAPER_R_D_STAR), rel=1e-6)
    # Less than an epoch: the unique tokens seen are the tokens trained, L(N, D) of Hoffmann et al.
    assert effective(fit, 1e6, 0.5 * u, u)[1][0] == pytest.approx(0.5 * u)


def test_the_gradient_is_the_objectives():
    df = planted(noise=0.01, seed=2)
    log_x = np.log(df[["params", "tokens", "unique_tokens"]].to_numpy())
    y = np.log(df["loss"].to_numpy())
    for truth in (PAPER, PAPER | {"A": 50.0, "alpha": 0.25, "R_D_star": 3.0, "R_N_star": 20.0}):
        theta = DATA_CONSTRAINED.to_theta(_vector(truth))
        for delta in (1e-3, 1.0):  # in the Huber's linear part and in its quadratic part
            rest = (DATA_CONSTRAINED, log_x, y, np.ones(len(df)), delta)
            _, grad = objective(theta, *rest)
            numeric = approx_fprime(theta, lambda t: objective(t, *rest)[0], 1e-7)
            assert grad == pytest.approx(numeric, rel=1e-3, abs=1e-6 * np.abs(numeric).max())


def test_centring_the_inputs_leaves_the_law_unchanged():
    """The optimizer measures log N from its mean and log D, log U from theirs, and moves log A, log B
    to match: N_opt(U_D) moves with them (its definition is scale-free), so every loss is the same."""
    log_x = np.log(planted()[["params", "tokens", "unique_tokens"]].to_numpy())
    theta = DATA_CONSTRAINED.to_theta(_vector(PAPER | {"R_N_star": 20.0}))
    centred, center = DATA_CONSTRAINED.centred(log_x)
    assert center == pytest.approx([np.log(1e8), log_x[:, 1].mean()])
    np.testing.assert_allclose(DATA_CONSTRAINED.log_loss(DATA_CONSTRAINED.recentred(theta, center), centred),
                               DATA_CONSTRAINED.log_loss(theta, log_x), rtol=1e-12)


def test_its_frontier_is_l_n_d_with_fresh_data():
    """At fixed compute the best run sees its data once, so L*(C) is L(N, D)'s at the same E, A, B, α, β."""
    compute = np.array([1e18, 1e21])
    params = _vector(PAPER)
    assert frontier_loss(DATA_CONSTRAINED, params, compute) == pytest.approx(
        frontier_loss(PARAMS_TOKENS, params[:5], compute), rel=1e-12)


def test_variable_projection_is_refused_by_name():
    with pytest.raises(ConfigError, match="varpro needs a law linear in E and A_k") as err:
        fit_points(DATA_CONSTRAINED, planted()[["params", "tokens", "unique_tokens"]].to_numpy(),
                   planted()["loss"].to_numpy(), method="varpro")
    assert err.value.option == "method"


def test_without_excess_parameters_r_n_star_is_not_measured():
    fit = _fit(planted(params=(1e5, 3e5, 1e6)), bootstrap=20)  # all below N_opt(U) ≈ 5e6
    assert fit.unmeasured == ("R_N_star",) and fit.params["R_N_star"] == PAPER_R_N_STAR
    assert np.isnan(fit.interval("R_N_star")).all() and not np.isnan(fit.interval("R_D_star")).any()
    assert (fit.draws.samples[:, -1] == PAPER_R_N_STAR).all() and "R_N_star = 5.309 (not measured)" in str(fit)
    assert fit.params["R_D_star"] == pytest.approx(PAPER_R_D_STAR, rel=1e-6)


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
    out = json.loads(res.stdout)
    fit = out["fits"][0]
    assert fit["params"]["R_D_star"] == pytest.approx(PAPER_R_D_STAR, rel=1e-6)
    assert out["repeated"] == {"all": 36} and fit["unmeasured"] == []
    for args, message in ((["--law", "data-constrained"], "runs.csv: --unique-tokens: column 'unique_tokens' not found"),
                          (["--unique-tokens", "U"], "--unique-tokens: only for --law data-constrained")):
        res = runner.invoke(app, ["fit", str(path), *args])
        assert res.exit_code == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), res.stderr
