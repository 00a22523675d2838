"""A report a person can read: tick labels that never run together, degenerate fits said in words,
captions that name the lines drawn, one symbol per quantity, and tables that scroll, not clip.

Every figure any test draws is also checked for overlapping text when saved (pyproject.toml turns
report.style.TextOverlapWarning into an error); benchmarks/report_pages.py opens the pages in Chromium.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scalinglab.analysis import COMPUTE, fit_points
from scalinglab.report import caveats, figures, plot, style, write_report
from scalinglab.report.findings import ArmFit, analyse
from scalinglab.report.panels import _compute_caption, _marks
from scalinglab.report.summary import fit_sentence
from tests.analysis.helpers import arm
from tests.report.synthetic import crossing_study, l2_study, lr_study


def _compute_axis(lo: float, hi: float, size=style.WIDE, label="constant (lr 1.5/48): runs and a long label") -> Figure:
    """The compute axis as the report draws it: log x from lo to hi, a legend outside on the right."""
    fig = Figure(figsize=size, dpi=style.DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([lo, hi], [5.0, 4.0], label=label)
    style.log_x(ax)
    ax.set_xlim(lo, hi)
    style.log_loss_axis(ax)
    style.legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _x_labels(fig: Figure) -> list[str]:
    return [t.get_text() for t in style.tick_labels(fig.axes[0].xaxis)]


def test_matplotlibs_own_minor_labels_collide_where_the_demo_drew_them():
    # The quick demo's axis, 1.3e10 to 8e11 FLOPs: one decade boundary inside, so matplotlib labels
    # 2, 3, 4 and 6×10¹⁰ and "3×10¹⁰" ran into "4×10¹⁰". The check sees it.
    fig = _compute_axis(1.3e10, 8e11)
    fig.axes[0].xaxis.set_minor_formatter(fig.axes[0].xaxis.get_minor_formatter().inner)
    fig.axes[0].xaxis.get_minor_formatter().minor_thresholds = (1, 0.4)  # matplotlib's default
    fig.draw_without_rendering()
    assert ("3×10^10", "4×10^10") in style.overlapping_text(fig)


@pytest.mark.parametrize("lo, decades", [(2e10, 0.4), (1.3e10, 0.8), (1.3e10, 1.79), (1e11, 3.0),
                                         (3e9, 8.0)])
@pytest.mark.parametrize("size", [style.FIGSIZE, style.WIDE])
def test_log_axes_are_labelled_without_overlap_at_every_scale(lo, decades, size, tmp_path):
    fig = _compute_axis(lo, lo * 10**decades, size)
    fig.draw_without_rendering()
    style.readable_ticks(fig)
    assert style.overlapping_text(fig) == []
    labels = _x_labels(fig)
    assert len(labels) >= 2, labels  # thinned, never emptied: a narrow axis still names its ticks


def test_crowded_minor_labels_are_thinned_until_none_touch():
    # Under half a decade every minor tick starts labelled; on a small axis 2-9×10¹⁰ cannot all fit.
    fig = _compute_axis(2e10, 2e10 * 10**0.45, (3.0, 2.5), label="runs")
    fig.draw_without_rendering()
    before = _x_labels(fig)
    assert style.readable_ticks(fig) and style.overlapping_text(fig) == []
    after = _x_labels(fig)
    assert 2 <= len(after) < len(before) and set(after) < set(before)


def test_render_warns_when_text_overlaps(tmp_path):
    def draw(fig):
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "first note")
        ax.text(0.5, 0.5, "second note")

    with pytest.warns(style.TextOverlapWarning, match="'first note' and 'second note'"):
        style.render(draw, [tmp_path / "clash.png"])
    assert (tmp_path / "clash.png").exists()


def _degenerate(fit):
    """The fit with E at 0 in the point fit and in every resample, as the quick demo's joint fit ended."""
    samples = fit.draws.samples.copy()
    samples[:, 0] = 4.8e-12
    return dataclasses.replace(fit, params={**fit.params, "E": 4.8e-12},
                               draws=dataclasses.replace(fit.draws, samples=samples))


def test_a_fit_at_its_bound_with_a_collapsed_interval_is_said_in_words():
    runs = arm("a", 2.0, 40.0, 0.08, noise=0.02, seed=1)
    fit = fit_points(COMPUTE, runs[["compute"]].to_numpy(), runs["loss"].to_numpy(), runs["run_id"].to_numpy(),
                     group="a", bootstrap=100)
    assert caveats.caveats(fit) == []  # a healthy fit says nothing more
    bad = _degenerate(fit)
    assert [c.short for c in caveats.caveats(bad)] == ["E at its bound 0", "interval of E collapsed"]
    sentence = fit_sentence(ArmFit("a", bad.status, bad, bad.n_points), "a")
    assert "E 0.000 to 0.000. Caution: E = 0.000 is at its bound: the runs show no loss floor" in sentence
    assert "the 95% interval of E collapsed to one value (E 0.000 to 0.000): every resample landed there" in sentence
    curve = plot.fit_curve(bad, np.geomspace(1e12, 1e15, 5), 1e15)
    assert curve.label.endswith("(E at its bound 0)")  # in the legend, beside the line
    # Points exactly on a law resample to one fit: a true zero width, not a stuck bootstrap.
    exact = dataclasses.replace(bad, residuals=np.zeros_like(bad.residuals))
    assert [c.short for c in caveats.caveats(exact)] == ["E at its bound 0"]


def test_the_page_warns_of_degenerate_fits_beside_the_headline(tmp_path):
    data = crossing_study(tmp_path)
    f = analyse(data, target_compute=1e17, bootstrap=50, seed=0)
    fits = {arm: dataclasses.replace(fit, fit=_degenerate(fit.fit)) for arm, fit in f.fits.items()}
    from scalinglab.report.headline import forecast_sentence

    text = forecast_sentence(data, dataclasses.replace(f, fits=fits))
    assert text.endswith("Read with care: E at its bound 0 (constant, scaled); interval of E collapsed "
                         "(constant, scaled).")


def test_captions_name_the_line_styles_drawn(tmp_path):
    for data, crossing in ((crossing_study(tmp_path), True), (lr_study(tmp_path), False)):
        f = analyse(data, target_compute=None, bootstrap=50, seed=0)
        marks = _marks(f)
        fig = Figure()
        ax = fig.add_subplot()
        figures.loss_vs_compute(ax, [figures.Points("a", np.array([1e12, 1e13]), np.array([4.0, 3.5]))], [None],
                                marks)
        drawn = {line.get_label(): line.get_linestyle() for line in ax.get_lines()}
        caption = _compute_caption(data, f)
        target = next(label for label in drawn if label.startswith("target"))
        assert style.LINE_NAMES[drawn[target]] == "dotted" and "Dotted line: the target compute" in caption
        if crossing:
            (cross,) = [label for label in drawn if label.startswith("crossover")]
            assert style.LINE_NAMES[drawn[cross]] == "dash-dot"
            assert "Dash-dot line: where the fitted curves cross (shaded: its 95% interval)" in caption
        else:  # no crossing: the target is the only vertical line, and still the dotted one
            assert "Dash-dot" not in caption and "dashed beyond: a forecast" in caption


def test_width_tokens_and_params_each_have_one_name(tmp_path):
    result = write_report(lr_study(tmp_path), tmp_path / "report", bootstrap=20)
    text = result.index_html.read_text() + (result.out_dir / "summary.md").read_text()
    svgs = " ".join(p.read_text() for p in result.figures if p.suffix == ".svg")
    # D is the training tokens (6·N·D) and nothing else: widths are "width 64", never "D=64".
    assert not re.search(r"\bD=\d", text + svgs) and "D^" not in text + svgs
    assert "width 64" in svgs and "width^-1.0" in text and "D = training tokens" in text


def test_the_run_table_scrolls_in_its_box_and_shows_the_swept_settings(tmp_path):
    result = write_report(l2_study(tmp_path), tmp_path / "report", bootstrap=20)
    page = result.index_html.read_text()
    runs = page.split("<h2>Runs (18)</h2>", 1)[1]
    header = re.findall(r"<th[^>]*>([^<]*)</th>", runs.split("</thead>", 1)[0])
    assert "L2 λ" in header and "epochs" not in header and "unseen train" not in header  # empty: left out
    assert runs.count('<div class="scroll"><table>') == 1
    css = page.split("<style>", 1)[1].split("</style>", 1)[0]
    assert re.search(r"\.scroll \{ overflow-x: auto;", css)


@pytest.mark.parametrize("lo, hi", [(3.0, 3.3), (3.0, 4.4), (2.5, 6.0), (1.8, 9.0)])
def test_a_loss_axis_names_several_ticks_however_narrow(lo, hi):
    fig = Figure(figsize=style.FIGSIZE, dpi=style.DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([1, 2], [lo, hi])
    ax.set_ylim(lo, hi)
    style.log_loss_axis(ax)
    fig.draw_without_rendering()
    style.readable_ticks(fig)
    labels = [float(t.get_text()) for t in style.tick_labels(ax.yaxis)]
    assert len(labels) >= 3 and style.overlapping_text(fig) == [], labels
