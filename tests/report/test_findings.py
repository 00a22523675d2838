"""The report's science on synthetic tables (no training): who wins, where curves cross, LR optima."""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd
import pytest

from scalinglab.analysis import compare_arms
from scalinglab.report import write_report
from scalinglab.report.findings import Pair, analyse
from scalinglab.report.headline import headline
from scalinglab.report.sentences import backtest_sentence, observed_sentence
from scalinglab.report.summary import pair_sentences
from tests.analysis.helpers import arm, crossing_a
from tests.report.synthetic import (
    CROSSING,
    crossing_study,
    l2_study,
    law,
    lr_batch_study,
    lr_for_batch,
    lr_study,
    optimal_lr,
)


def verdict(data, findings) -> str:
    return headline(data, findings).text


def _winner_and_loser(sentence: str) -> tuple[str, str]:
    winner, _, rest = sentence.partition(" is better than ")
    return winner.split(", ", 1)[1].split(" ")[0], rest.split(" ")[0]


def test_verdict_names_the_winner_on_each_side_of_the_crossing(tmp_path):
    data = crossing_study(tmp_path)
    above = analyse(data, target_compute=1e17, bootstrap=100, seed=0)
    below = analyse(data, target_compute=1e12, bootstrap=100, seed=0)
    assert law("scaled", 1e17) < law("constant", 1e17) and law("constant", 1e12) < law("scaled", 1e12)
    assert _winner_and_loser(verdict(data, above)) == ("scaled", "constant")
    assert _winner_and_loser(verdict(data, below)) == ("constant", "scaled")
    assert verdict(data, above).startswith("At 1e17 FLOPs, scaled (lr 2/width) is better than constant")

    c = above.headline.comparison
    assert c.crossing.kind == "in_range" and c.crossing.winner_after == "b"
    lo, hi = c.crossing.interval
    assert lo < CROSSING < hi and abs(np.log10(c.crossing.compute / CROSSING)) < 0.3
    assert c.backtest.status == "ok" and c.backtest.correct


def test_crossing_report_page(tmp_path):
    result = write_report(crossing_study(tmp_path), tmp_path / "report", bootstrap=100)
    page = result.index_html.read_text()
    # The headline: the verdict at the target, then each arm's loss forecast there.
    (finding,), forecast = result.headline.finding, result.headline.forecast
    assert result.headline.kind == "crossover" and finding.startswith("At 1.4e17 FLOPs, scaled (lr 2/width) is better")
    assert forecast.startswith("Loss forecast at 1.4e17 FLOPs (10× the largest run the study plans) from the fitted "
                               "laws: constant (lr 2/192) 2.8")
    assert f'<p class="finding">{html.escape(finding)}</p><p class="forecast">{html.escape(forecast)}</p>' in page
    assert "the curves cross at" in page and "Backtest: refitted without the largest N" in page
    # The measured differences come first, before any fit: one per width, and where the leader changes.
    measured = next(line for line in (result.out_dir / "summary.md").read_text().splitlines()
                    if line.startswith("- Measured, loss of scaled"))
    assert measured.count("; N ") == 5 and "The leader changes between" in measured
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary["forecast"]["headline"]["p_b_better"] > 0.975 and summary["forecast"]["headline"]["verdict"] == "b"
    assert summary["target_compute_source"].startswith("10×")
    # No metrics in a synthetic table: no learning-curve figure, and no crash for it.
    assert [p.name for p in result.figures] == ["loss_vs_compute.png", "loss_vs_compute.svg"]


def test_lr_sweep_optima_and_law(tmp_path):
    data = lr_study(tmp_path)
    result = write_report(data, tmp_path / "report", bootstrap=20)
    lr = result.summary["hyperparameters"]["lr"]
    assert lr["by"] == "width"
    (base,) = lr["laws"]
    for o in base["optima"]:
        assert o["status"] == "ok"
        assert o["optimum"] == pytest.approx(optimal_lr(o["by_value"]), rel=0.2)
    assert base["optimum_law"]["exponent"] == pytest.approx(-1.0, abs=0.15)
    # Width 128 and 256 diverge above 8x their optimum: the largest stable LR is 8x the optimum.
    stable = {o["by_value"]: o["largest_stable"] for o in base["optima"] if o["diverged_in_grid"]}
    assert stable == {128.0: pytest.approx(8 * optimal_lr(128)), 256.0: pytest.approx(8 * optimal_lr(256))}
    assert {"loss_vs_lr.png", "lr_law.svg"} <= {p.name for p in result.figures}
    assert "optimal LR ≈" in result.index_html.read_text()


def test_too_few_points_still_make_a_report(tmp_path):
    data = crossing_study(tmp_path)
    wide = data.table["width"] > 128
    data.table.loc[wide, ["loss", "final_eval_loss", "final_train_loss"]] = np.nan
    data.table.loc[wide, "status"] = "pending"
    result = write_report(data, tmp_path / "report", bootstrap=10)
    assert result.verdict.startswith("No scaling law could be fitted")
    assert result.headline.kind == "ladder" and result.headline.finding == ()
    fits = result.summary["fits"]
    assert all(f["status"] == "insufficient data" and "needs at least 3" in f["reason"] for f in fits.values())
    assert result.summary["forecast"] is None
    assert "8 run(s) have no result yet" in result.index_html.read_text()


def test_two_fitted_crossings_are_named_with_their_compute():
    # b: much steeper and with a much higher E: behind, then ahead, then behind again, inside the runs.
    df = pd.concat([arm("a", 2.0, 60.0, 0.1, noise=0.0, seed=1),
                    arm("b", *crossing_a(3e12, e_b=3.0, alpha_b=0.2), noise=0.0, seed=2)], ignore_index=True)
    c = compare_arms(df, "a", "b", draws=0, share="none")
    sentences = pair_sentences(Pair("a", "b", c), {"a": "A", "b": "B"})
    ambiguous = next(s for s in sentences if "ambiguous" in s)
    assert c.crossing.n_crossings == 2 and ambiguous.count("e1") == 2, ambiguous
    assert sentences[0].startswith("Measured, loss of B minus A at the same N and D")


def test_l2_sweep_reports_loss_against_the_setting(tmp_path):
    result = write_report(l2_study(tmp_path), tmp_path / "report", bootstrap=20)
    effects = result.summary["settings"]["l2"]
    assert [(e["arm"], e["width"]) for e in effects] == [(a, w) for a in ("coupled", "none") for w in (64, 128, 256)]
    for e in effects:
        assert e["best"] == 0.0
        if e["width"] == 256:  # λ = 1e-3 diverged there: its loss is missing, the worst is 1e-4
            assert e["loss"][2] is None and e["worst"] == 0.0001
        else:
            assert e["worst"] == 0.001 and e["worst_loss"] - e["best_loss"] == pytest.approx(0.1, abs=0.02)
    assert {"loss_vs_l2.png", "loss_vs_l2.svg"} <= {p.name for p in result.figures}
    page = result.index_html.read_text()
    assert "Other swept settings" in page and "none (decay_mode none), l2: width 64: best 0 (" in page


def test_batch_sweep_retunes_the_lr_per_batch_size(tmp_path):
    summary = write_report(lr_batch_study(tmp_path), tmp_path / "report", bootstrap=20).summary
    (batch,) = summary["hyperparameters"]["batch_size"]["laws"]
    (o,) = batch["optima"]
    # Each batch size at its best LR: the optimum is 16, at the loss of the best LR (3.0 + LR-grid error).
    assert o["status"] == "ok" and o["optimum"] == pytest.approx(16, rel=0.15)
    assert o["best_loss"] == pytest.approx(3.0, abs=0.01)
    lr = summary["hyperparameters"]["lr"]["laws"]
    assert [fitted["group"] for fitted in lr] == [f"base, batch {b}" for b in (8, 16, 32, 64)]
    for fitted in lr:
        (opt,) = fitted["optima"]
        b = int(fitted["group"].rsplit(" ", 1)[1])
        assert opt["optimum"] == pytest.approx(lr_for_batch(b), rel=0.15)


def test_measured_differences_warn_when_equal_width_is_not_equal_compute():

    a = arm("a", 2.0, 60.0, 0.1)
    b = arm("b", 2.0, 60.0, 0.1).assign(compute=lambda t: 2 * t["compute"])  # a wider MLP, say
    # The wider arm has more parameters at each width: its rows do not pair by (N, D) or by compute.
    b = b.assign(params=lambda t: 2 * t["params"])
    wider = compare_arms(pd.concat([a, b], ignore_index=True), "a", "b", draws=0)
    o = wider.observed
    assert o.key == "width" and o.compute_ratio == pytest.approx([2.0] * len(o.sizes))
    assert "At equal width B spends 2× the compute of A" in observed_sentence(wider, "A", "B")
    assert "(where B spends 2× the compute of A)" in backtest_sentence(wider.backtest, "A", "B")
    same = compare_arms(pd.concat([a, arm("b", 2.1, 60.0, 0.1)], ignore_index=True), "a", "b", draws=0)
    assert "compute of" not in observed_sentence(same, "A", "B")


def test_verdict_forecasts_the_baseline_alone_when_no_other_arm_can_be_compared(tmp_path):
    data = crossing_study(tmp_path)
    scaled = data.table["arm"] == "scaled"
    data.table.loc[scaled, ["loss", "final_eval_loss", "final_train_loss", "final_eval_loss_se"]] = np.nan
    data.table.loc[scaled, "status"] = "diverged"
    findings = analyse(data, target_compute=1e17, bootstrap=50, seed=0)
    assert findings.headline is None and findings.baseline == "constant"
    text = verdict(data, findings)
    expected = law("constant", 1e17)
    assert text.startswith("Loss forecast at 1e17 FLOPs (given) from the fitted law: constant (lr 2/192) ")
    assert "95% interval" in text and "; scaled (lr 2/width): no fit (0 complete runs at distinct compute" in text
    predicted = float(text.split("constant (lr 2/192) ")[1].split(" ")[0])
    assert abs(predicted - expected) < 0.05
