"""Repeated data in the report, on synthetic results (no training): the two regimes side by side, the
data-constrained law recovered from checkpoints, marks on multi-epoch runs, and regime-mixing warnings."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from scalinglab.analysis.constrained import LAW, _params_to_theta, log_loss
from scalinglab.config import load_study
from scalinglab.report import write_report
from scalinglab.report.collect import study_data
from scalinglab.report.findings import analyse
from scalinglab.report.regimes import mix_sentences
from scalinglab.report.summary import verdict
from scalinglab.store import export_table
from tests.report.synthetic import crossing_study

CAP = 65_537  # 65,536 unique tokens in rows of 256 (bytes, the default seq_len)
TWO_REGIMES_TOML = f"""
[study]
description = "Synthetic: a baseline and an L2 arm, each for one epoch and over {CAP - 1} tokens."
[model]
depth = 2
head_dim = 16
[data]
tokenizer = "bytes"
[budget]
tokens = 1_000_000
[sweep]
width = [32, 48, 64]
[arms.base]
[arms.l2]
l2 = 1e-3
[arms.rep-base]
max_train_tokens = {CAP}
[arms.rep-l2]
max_train_tokens = {CAP}
l2 = 1e-3
"""
# Losses follow the data-constrained law: repeats are worth exp(-k/R_D*) of fresh data, and the L2
# recipe keeps more of their worth (R_D* 20 against 4). In one epoch the two recipes are the same law.
TRUTH = {"E": 1.8, "A": 100.0, "B": 100.0, "alpha": 0.35, "beta": 0.35, "R_N_star": 5.0}
R_D_STAR = {"base": 4.0, "l2": 20.0}
EVALS = np.linspace(0.1, 1.0, 10)


def _law(recipe: str, n, d, u):
    theta = _params_to_theta(np.array([(TRUTH | {"R_D_star": R_D_STAR[recipe]})[k] for k in LAW.param_names]))
    return np.exp(log_loss(theta, np.log(n), np.log(d), np.log(u)))


@pytest.fixture(scope="module")
def two_regimes(tmp_path_factory):
    """The report of the study with every run complete: final losses and eval checkpoints from the planted law."""
    folder = tmp_path_factory.mktemp("regimes")
    path = folder / "regimes.toml"
    path.write_text(TWO_REGIMES_TOML)
    study = load_study(path)
    table = export_table(study)
    capped = table["max_train_tokens"].notna()
    table["unique_tokens"] = np.where(capped, CAP - 1, 10**9).astype(float)
    table["epochs"] = table["tokens"] / table["unique_tokens"]
    recipe = table["arm"].str.removeprefix("rep-")
    metrics = []
    for row, r in zip(table.itertuples(), recipe):
        tokens = row.tokens * EVALS
        loss = _law(r, row.params, tokens, row.unique_tokens)
        metrics.append(pd.DataFrame({"run_id": row.run_id, "arm": row.arm, "width": row.width,
                                     "step": np.arange(1, len(EVALS) + 1) * 10, "tokens": tokens,
                                     "train_loss": loss - 0.01, "eval_loss": loss}))
    metrics = pd.concat(metrics, ignore_index=True)
    final = metrics.groupby("run_id")["eval_loss"].last()
    table["loss"] = table["final_eval_loss"] = table["run_id"].map(final)
    # Memorised over many epochs: a train loss far below the eval loss (the generalization gap).
    table["final_train_loss"] = table["loss"] - np.where(capped, 1.0 + 0.02 * table["epochs"], 0.01)
    table["final_eval_loss_se"] = 0.005
    table["status"] = "complete"
    data = study_data(study, table, metrics)
    return data, write_report(data, folder / "report", bootstrap=20)


def test_the_regimes_are_side_by_side_with_each_lever_against_its_own_baseline(two_regimes):
    _, result = two_regimes
    regimes = result.summary["repeated_data"]["regimes"]
    one, many = regimes["at most one epoch"], regimes["many epochs"]
    assert (one["arms"], many["arms"]) == (["base", "l2"], ["rep-base", "rep-l2"])
    (l2_once,), (l2_many,) = one["levers"], many["levers"]
    assert l2_once["recipe"] == l2_many["recipe"] == "l2"
    assert l2_once["verdict"] == "no clear effect" and max(abs(d) for d in l2_once["delta"]) < 1e-9
    assert l2_many["verdict"] == "helps" and all(d < -0.05 for d in l2_many["delta"])
    assert one["gap_median"] == pytest.approx(0.01) and many["gap_median"] > 1.0
    assert many["epochs"] == pytest.approx([1e6 / 65_536] * 2, rel=0.01)


def test_the_data_constrained_law_is_fitted_per_recipe_from_checkpoints(two_regimes):
    _, result = two_regimes
    fits = {f["recipe"]: f for f in result.summary["repeated_data"]["data_constrained"]}
    assert set(fits) == {"base", "l2"} and fits["base"]["arms"] == ["base", "rep-base"]
    for recipe, f in fits.items():
        assert f["fit"]["n_points"] == 6 * len(EVALS) and f["fit"]["n_repeated"] > 0
        assert f["fit"]["params"]["R_D_star"] == pytest.approx(R_D_STAR[recipe], rel=0.02), recipe


def test_the_report_marks_repeated_runs_and_says_what_changed_with_the_regime(two_regimes):
    data, result = two_regimes
    assert data.labels["rep-base"] == "rep-base (max_train_tokens 65537) [15 epochs]"
    assert data.labels["base"] == "base"
    assert "Two regimes: over many epochs (15), l2 helps; in one epoch, l2 has no clear effect" in result.verdict
    page = result.index_html.read_text()
    assert page.index("Two regimes") < page.index("Loss vs compute")  # the study's point comes first
    assert "regimes.png" in page and "Hollow markers: the 6 of 12 runs that repeat data" in page
    assert "This comparison mixes regimes (base trains for one epoch and rep-base over many epochs)" in page
    epochs = {r["name"]: r["epochs"] for r in result.summary["table"]}
    assert epochs["w32-L2-rep-base-1Mtok"] == pytest.approx(1e6 / 65_536, rel=0.01)
    md = (result.out_dir / "summary.md").read_text()
    assert "## Two regimes" in md and "R_D* = 4" in md and "R_D* = 20" in md


def test_a_comparison_whose_arms_repeat_data_at_some_widths_says_it_mixes_regimes(tmp_path):
    data = crossing_study(tmp_path)
    table = data.table.assign(epochs=np.where(data.table["width"] >= 320, 2.5, 0.4))
    data = study_data(data.study, table.drop(columns=["planned_compute", "nominal_compute", "steps_planned"]))
    f = analyse(data, target_compute=1e17, bootstrap=50, seed=0)
    assert data.labels["constant"].endswith("[widths 320, 384 repeat data]")
    assert ("This comparison mixes regimes (constant and scaled have runs in both, so a fitted curve joins the two "
            "regimes)") in verdict(data, f)
    assert f.repeats.contrast is None  # no arm is wholly in one regime: nothing to set side by side
    one_epoch = data.table[data.table["width"] < 320]
    assert mix_sentences(one_epoch, "constant", "scaled") == []
