"""Repeated data in the report, on synthetic results (no training): the two regimes side by side, the
data-constrained law recovered from checkpoints, marks on multi-epoch runs, and regime-mixing warnings."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.report import write_report
from scalinglab.report.collect import study_data
from scalinglab.report.findings import analyse
from scalinglab.report.headline import headline
from scalinglab.report.regimes.sentences import mix_sentences
from tests.report.synthetic import EVALS, R_D_STAR, crossing_study, two_regimes_study


@pytest.fixture(scope="module")
def two_regimes(tmp_path_factory):
    """The report of the study with every run complete: final losses and eval checkpoints from the planted law."""
    folder = tmp_path_factory.mktemp("regimes")
    data = two_regimes_study(folder)
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
        assert f["fit"]["n_points"] == 6 * len(EVALS) and f["repeated"] == 3 * len(EVALS)
        assert f["fit"]["params"]["R_D_star"] == pytest.approx(R_D_STAR[recipe], rel=1e-3), recipe


def test_the_report_marks_repeated_runs_and_says_what_changed_with_the_regime(two_regimes):
    data, result = two_regimes
    assert data.labels["rep-base"] == "rep-base (max_train_tokens 65537) [15 epochs]"
    assert data.labels["base"] == "base"
    # The headline is the contrast: each lever per regime with its range over widths, then the noise.
    (contrast, noise), head = result.headline.finding, result.headline
    assert head.kind == "two regimes" and result.verdict.startswith(contrast)
    assert contrast == ("Each lever against its regime's baseline, over many epochs (15): l2 helps (-0.299 nats); in "
                        "one epoch (0.001): l2 has no clear effect (+0.000 nats). What l2 does changes with the regime.")
    assert noise.startswith("Noise: a difference counts beyond ±0.014 nats (twice its standard error")  # 2·√2·0.005
    page = result.index_html.read_text()
    assert page.index("<h2>Two regimes") < page.index("<h2>Loss vs compute")  # the study's point comes first
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
            "regimes)") in headline(data, f).text
    assert f.repeats.contrast is None  # no arm is wholly in one regime: nothing to set side by side
    one_epoch = data.table[data.table["width"] < 320]
    assert mix_sentences(one_epoch, "constant", "scaled") == []
