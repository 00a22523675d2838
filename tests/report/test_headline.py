"""Each study type's report opens with its own finding, on made-up results whose answer is known:
the best LR per width with its law and the largest stable LR, the best batch per width and whether it
moves, each regularization lever with its noise; then the loss forecast."""

from __future__ import annotations

import re

import pytest

from scalinglab.report import write_report
from scalinglab.report.findings import analyse
from scalinglab.report.headline import headline
from tests.report.synthetic import batch_study, l2_study, lr_batch_study, lr_study, optimal_lr


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"(?<![\w.^])-?\d+\.?\d*(?:e-?\d+)?", text)]


def test_an_lr_study_opens_with_the_best_lr_per_width_its_law_and_the_largest_stable_lr(tmp_path):
    result = write_report(lr_study(tmp_path), tmp_path / "report", bootstrap=20)
    head = result.headline
    best, stable, calm = head.finding
    assert head.kind == "learning rate"
    # 0.5/width planted: 0.0078 at 64, 0.0039 at 128, 0.0020 at 256.
    values = re.match(r"Best learning rate: (\S+) at width 64, (\S+) at 128, (\S+) at 256, following LR ≈ "
                      r"(\S+)·width\^(\S+) \(exponent 95% interval (\S+) to (\S+)\)\.$", best)
    assert values, best
    lr64, lr128, lr256, _, exponent, lo, hi = map(float, values.groups())
    assert [lr64, lr128, lr256] == pytest.approx(optimal_lr([64, 128, 256]), rel=0.2)
    assert lo < exponent < hi and exponent == pytest.approx(-1.0, abs=0.15)
    # Runs above 8× the optimum diverge (the grid steps by 2: the largest stable is 4-8× the best).
    assert stable.startswith("Largest stable learning rate: 0.0312 at width 128, 0.0156 at 256, ×")
    assert stable.endswith("the best; every larger one diverged.")
    assert calm == "Nothing diverged up to 0.0625 at width 64: the stable edge lies beyond the grid."
    assert head.forecast.startswith("Loss forecast at 3e15 FLOPs (10× the largest run the study plans) from the fitted law:")
    page = result.index_html.read_text()
    # The page answers the question first: the learning-rate section comes before loss vs compute.
    assert page.index("<h2>Learning rate</h2>") < page.index("<h2>Loss vs compute</h2>")


def test_a_batch_study_says_where_the_best_batch_is_and_whether_it_moves(tmp_path):
    data = batch_study(tmp_path / "b")
    (best, cost, noise) = headline(data, analyse(data, None, bootstrap=20, seed=0)).finding
    # Planted: 8 at width 64, doubling with width.
    assert best.startswith("Best batch size: 8 at width 64, 16 at 128, 32 at 256; it grows with width, following "
                           "batch ≈ 0.125·width^1.00")
    assert cost.startswith("At width 256, the other batch sizes lose to 32 by: 4 +0.2")
    assert noise.startswith("Noise: a difference counts beyond ±0.028 nats")  # 2·√2·0.01, the table's se

    data = lr_batch_study(tmp_path / "one")
    head = headline(data, analyse(data, None, bootstrap=20, seed=0))
    assert head.kind == "batch size"
    assert head.finding[0] == ("Best batch size (each batch size at its best learning rate): 16 at width 64; with one "
                               "width, whether it moves is not measured.")


def test_a_regularization_study_gives_each_lever_its_effect_and_noise(tmp_path):
    data = l2_study(tmp_path)
    head = headline(data, analyse(data, None, bootstrap=20, seed=0))
    small, large, arms, noise = head.finding
    assert head.kind == "regularization"
    # Planted: λ costs 100 nats per unit (0.01 at 1e-4, within noise; 0.1 at 1e-3), in both arms.
    assert small.startswith("l2 = 0.0001 against l2 = 0: it has no clear effect in any arm (+0.0")
    assert large.startswith("l2 = 0.001 against l2 = 0: it hurts in every arm (+0.10")
    assert all(0.09 < x < 0.12 for x in _numbers(large.split("(", 1)[1]))
    assert arms.startswith("Against coupled (decay_mode coupled), each at l2 = 0: none (decay_mode none) ")
    assert noise.startswith("Noise: a difference counts beyond ±0.028 nats") and "not measured" in noise
    assert head.forecast.startswith("Loss forecast at 3e15 FLOPs")
