"""The report's panels: each figure drawn from the study's data and findings, with its caption.

A panel is one figure written as PNG and SVG, with the title, caption and page section it goes
under; report.figures draws the axes, report.style renders and saves them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalinglab.report import figures, plot, style, summary
from scalinglab.report.collect import TUNED_AXES, StudyData, traces
from scalinglab.report.findings import Findings, Hyper, SettingEffect
from scalinglab.report.regimes import figures as regime_figures
from scalinglab.report.regimes import findings as regime_findings
from scalinglab.report.regimes import sentences as regime_sentences


@dataclass(frozen=True)
class Panel:
    """A figure written in both formats (png, svg are Paths in the report's folder)."""

    png: Path
    svg: Path
    title: str
    caption: str
    section: str


def _save(draw, folder: Path, name: str, size=style.FIGSIZE) -> tuple[Path, Path]:
    png, svg = style.render(draw, [folder / f"{name}.png", folder / f"{name}.svg"], size)
    return png, svg


def draw_panels(data: StudyData, findings: Findings, folder: Path) -> list[Panel]:
    """Every figure of the report, written into `folder`."""
    out = []
    png, svg = _save(lambda canvas: _compute_axes(canvas.add_subplot(), data, findings), folder, "loss_vs_compute",
                     style.WIDE)
    out.append(Panel(png, svg, "Loss vs compute", _compute_caption(data, findings), "compute"))
    if findings.repeats is not None and findings.repeats.contrast is not None:
        png, svg = _save(lambda canvas: regime_figures.draw_contrast(canvas, findings.repeats.contrast, data.labels), folder,
                         "regimes", (style.WIDE[0] * 1.25, style.WIDE[1] * 1.6))
        out.append(Panel(png, svg, "Two regimes side by side", regime_figures.CONTRAST_CAPTION, "regimes"))
    for h in findings.hyper.values():
        out += _hyper_panels(h, data, folder)
    for setting, effects in findings.settings.items():
        out.append(_setting_panel(setting, effects, data, folder))
    arms = [a for a in data.study.arms if traces(data, a)]
    if arms:
        cols = min(2, len(arms))
        rows = math.ceil(len(arms) / cols)

        def draw_curves(canvas):
            axes = np.atleast_1d(canvas.subplots(rows, cols, squeeze=False).ravel())
            for ax, arm in zip(axes, arms):
                figures.learning_curves(ax, traces(data, arm), title=data.labels[arm] if len(arms) > 1 else "")
            for ax in axes[len(arms):]:
                ax.set_visible(False)

        png, svg = _save(draw_curves, folder, "learning_curves",
                         (style.FIGSIZE[0] * (1.0 if cols == 1 else 1.6), style.FIGSIZE[1] * rows))
        out.append(Panel(png, svg, "Train and eval loss vs step",
                         f"Per width, the longest run (at the best LR when LR is swept): train loss (solid, mean over "
                         f"each logging window) and held-out eval loss ({_line(figures.EVAL_LINE)}, with markers). The "
                         f"distance between them is the generalization gap. " + regime_sentences.caption_note(data.table),
                         "curves"))
    return out


def _compute_axes(ax, data: StudyData, findings: Findings):
    groups, curves = [], []
    lo = hi = None
    done = findings.fit_rows
    for arm in data.study.arms:
        rows = done[done["arm"] == arm]
        div = data.diverged()
        div = div[div["arm"] == arm]
        groups.append(figures.Points(data.labels[arm], rows["compute"].to_numpy(float), rows["loss"].to_numpy(float),
                                         div["planned_compute"].to_numpy(float), regime_findings.repeated(rows)))
        xs = np.concatenate([rows["compute"].to_numpy(float), div["planned_compute"].to_numpy(float)])
        if xs.size:
            lo = xs.min() if lo is None else min(lo, xs.min())
            hi = xs.max() if hi is None else max(hi, xs.max())
    marks = _marks(findings)
    if marks:
        hi = max([m.x for m in marks] + ([hi] if hi is not None else []))
    for arm in data.study.arms:
        fit = findings.fits[arm].fit
        if fit is None or lo is None:
            curves.append(None)
            continue
        curves.append(plot.fit_curve(fit, plot.compute_grid(lo, hi), fit.data_range["compute"][1]))
    return figures.loss_vs_compute(ax, groups, curves, marks)


def _marks(findings: Findings) -> list[figures.Mark]:
    """The vertical lines of the compute figure: the headline comparison's crossover, the target."""
    head = findings.headline
    crossing = plot.crossing_mark(head.comparison, findings.target_compute) if head is not None else None
    target = plot.target_mark(findings.target_compute) if findings.target_compute else None
    return [m for m in (crossing, target) if m is not None]


def _line(linestyle: str) -> str:
    return style.LINE_NAMES[linestyle]


def _compute_caption(data: StudyData, findings: Findings) -> str:
    n_div = len(data.diverged())
    fits = [f.fit for f in findings.fits.values() if f.fit is not None]
    if fits:
        band = " with its 95% bootstrap band" if any(fit.has_spread for fit in fits) else ""
        curves = (f"; per fitted arm L(C) = E + A·C^-α (solid over the runs, {_line(figures.FORECAST_LINE)} beyond: a "
                  f"forecast){band}.")
    else:
        curves = "; no arm could be fitted, so no curve is drawn."
    parts = [f"Final eval loss of each complete run against training compute (log-log){curves}"]
    if any(axis in data.swept for axis in TUNED_AXES):
        parts.append("Swept hyperparameters are tuned out: each compute point shows its best run.")
    if n_div:
        parts.append(f"× on the top edge: the {n_div} diverged run(s), at their planned compute, not fitted.")
    for m in _marks(findings):
        what = ("where the fitted curves cross" + (" (shaded: its 95% interval)" if m.lo is not None else "")
                if m.linestyle == figures.CROSSING_LINE else f"the target compute ({findings.target_source})")
        parts.append(f"{_line(m.linestyle).capitalize()} line: {what}.")
    parts.append(regime_sentences.caption_note(findings.fit_rows, drawn_hollow=True))
    parts.append(f"{summary.CONVENTION}.")
    return " ".join(parts)


def _hyper_panels(h: Hyper, data: StudyData, folder: Path) -> list[Panel]:
    if h.report is None:
        return []
    name = {"lr": "LR", "batch_size": "batch size"}[h.hparam]
    multi = len(h.report.laws) > 1
    groups, optimum, stable, optima = [], [], [], []
    for arm, law in h.report.laws.items():
        for o in law.optima:
            at = f"width {o.by_value:g}" if h.by == "width" else f"C={summary.flops(o.by_value)}"
            label = f"{arm}, {at}" if multi else at
            grid, loss, div = np.array(o.grid), np.array(o.loss), np.array(o.diverged, dtype=bool)
            groups.append(figures.Points(label, grid[~div], loss[~div], grid[div]))
            optimum.append(o.optimum if o.status == "ok" else (o.best_grid if o.status != "all_diverged" else None))
            stable.append(o.largest_stable if o.diverged_in_grid else None)
        found = [o for o in law.optima if o.status != "all_diverged"]
        if found:
            by = np.array([o.by_value for o in found])
            curve = None
            optimum_law = law.optimum_law
            if optimum_law.status in ("ok", "exact"):
                grid = np.geomspace(by.min() / 1.2, by.max() * 1.2, 50)
                band = optimum_law.predict_interval(grid)
                var = "width" if h.by == "width" else "C"
                curve = figures.Curve(grid, optimum_law.predict(grid), band[0], band[1],
                                      f"{data.labels.get(arm, arm) if multi else 'fit'}: "
                                      f"{optimum_law.coefficient:.3g}·{var}^{optimum_law.exponent:.2f}")
            optima.append(figures.Optima(data.labels.get(arm, arm), by, np.array([o.optimum for o in found]),
                                     np.array([o.largest_stable if o.diverged_in_grid else np.nan for o in found]),
                                     curve))
    stem = "lr" if h.hparam == "lr" else "batch"
    out = []
    png, svg = _save(lambda canvas: figures.loss_vs_hparam(canvas.add_subplot(), groups, h.hparam, optimum, stable),
                     folder, f"loss_vs_{stem}", style.WIDE)
    out.append(Panel(png, svg, f"Loss vs {name}",
                       f"Final eval loss against {name}, one curve per {'width' if h.by == 'width' else 'budget'}"
                       f"{' and batch size' if h.hparam == 'lr' and 'batch_size' in data.swept else ''}. "
                       f"Star: the optimum (vertex of a parabola in log {name} through the best point and its "
                       f"neighbours; the best grid point when that is at the edge)."
                       + (f" {_line(figures.STABLE_LINE).capitalize()} line: the largest {name} that did not diverge."
                          if any(v is not None for v in stable) else "")
                       + (" ×: diverged runs." if any(len(g.diverged_x) for g in groups) else "")
                       + f" {regime_sentences.caption_note(data.table)}", stem))
    if max(len(law.optima) for law in h.report.laws.values()) < 2:
        return out  # one width or budget: no law to draw
    png, svg = _save(lambda canvas: figures.hparam_law(canvas.add_subplot(), optima, h.hparam, h.by),
                     folder, f"{stem}_law")
    laws = [g.law for g in optima if g.law is not None]
    banded = any(law.lo is not None and np.isfinite(law.lo).any() for law in laws)
    fitted = ("" if not laws else ", with the power law fitted to the interior optima"
              + (" and its 95% band" if banded else " (through two points: no band)"))
    edges = f" and largest stable {name} (open triangles)" if any(np.isfinite(g.stable).any() for g in optima) else ""
    out.append(Panel(png, svg, f"Optimal {name} vs {'width' if h.by == 'width' else 'compute'}",
                     f"Optimal {name} (stars){edges} per {'width' if h.by == 'width' else 'budget'}, log-log"
                     f"{fitted}.", stem))
    return out


def _setting_panel(setting: str, effects: list[SettingEffect], data: StudyData, folder: Path) -> Panel:
    multi = len({e.arm for e in effects}) > 1
    groups = []
    for e in effects:
        x, loss = np.array(e.values), np.array(e.loss)
        ok = np.isfinite(loss)
        label = f"{e.arm}, width {e.width}" if multi else f"width {e.width}"
        groups.append(figures.Points(label, x[ok], loss[ok], x[~ok]))
    arms = list(dict.fromkeys(e.arm for e in effects))
    widths = sorted({e.width for e in effects})
    colours = [arms.index(e.arm) for e in effects]  # colour: the arm; marker: the width
    markers = [widths.index(e.width) for e in effects]
    png, svg = _save(lambda canvas: figures.loss_vs_setting(canvas.add_subplot(), groups, setting, colours, markers),
                     folder, f"loss_vs_{setting}", style.WIDE)
    name = figures.SETTING_LABELS.get(setting, setting)
    return Panel(png, svg, f"Loss vs {setting}",
                   f"Final eval loss against the {name}, one line per {'arm and ' if multi else ''}width"
                   + (" (the best LR at each value)" if "lr" in data.swept else "") + ". ×: every run at that "
                   f"value diverged. {regime_sentences.caption_note(data.table)}", "settings")


