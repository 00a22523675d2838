"""A study's report: figures (PNG + SVG), one static index.html, summary.md and summary.json.

    build_report(study, out_dir=None, target_compute=None, bootstrap=1000, seed=0, results_dir=None)
        -> ReportResult(out_dir, index_html, figures, verdict, summary)
    write_report(data: StudyData, out_dir, ...)    the same from a table already read (collect.read_study)

Reads the results with store.export_table / load_metrics, fits with analysis, draws with
report.figures, and writes everything into a temporary folder that replaces the report folder
only when complete, so a crash never leaves half a report. The default folder is `report/`
inside the study's results folder (beside results.sqlite).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalinglab.config import ConfigError, Study, load_study
from scalinglab.config.paths import check_folder, make_folder
from scalinglab.report import figures as fig
from scalinglab.report import html, regimes, style, summary
from scalinglab.report.collect import StudyData, read_study, run_rows, traces
from scalinglab.report.findings import Findings, Hyper, SettingEffect, analyse

__all__ = ["ReportResult", "StudyData", "build_report", "write_report"]

MARKER_FILES = ("index.html", "summary.json")
"""A folder holding these is a report that a new one may replace."""


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    index_html: Path
    figures: list[Path]
    """Every image written (PNG and SVG)."""
    verdict: str
    summary: dict
    """The content of summary.json."""


def build_report(study: Study | str | Path, out_dir: str | Path | None = None, target_compute: float | None = None,
                 bootstrap: int = 1000, seed: int = 0, results_dir: str | Path | None = None) -> ReportResult:
    """Fit, draw and write the report of a study (loaded, or its file); raises ConfigError when there is
    nothing to report."""
    if not isinstance(study, Study):
        study = load_study(study)
    results_dir = Path(results_dir) if results_dir else study.default_out_dir()
    out_dir = Path(out_dir) if out_dir else results_dir / "report"
    _check_replaceable(out_dir)
    return write_report(read_study(study, results_dir), out_dir, target_compute, bootstrap, seed)


def write_report(data: StudyData, out_dir: Path, target_compute: float | None = None, bootstrap: int = 1000,
                 seed: int = 0) -> ReportResult:
    """The report of results already read (build_report's second half; tests feed it synthetic tables)."""
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    findings = analyse(data, target_compute, bootstrap, seed)
    make_folder(out_dir.parent)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        pages = _draw(data, findings, tmp)
        verdict = summary.verdict(data, findings)
        sections = _sentences(data, findings)
        names = [p.name for f in pages for p in (f.png, f.svg) if p]
        doc = summary.summary_dict(data, findings, verdict, names)
        (tmp / "summary.json").write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
        (tmp / "summary.md").write_text(summary.markdown(doc, sections))
        (tmp / "index.html").write_text(_page(data, findings, verdict, pages, sections))
        _swap(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    images = [out_dir / n for n in names]
    return ReportResult(out_dir, out_dir / "index.html", images, verdict, doc)


def _check_replaceable(out_dir: Path) -> None:
    check_folder(out_dir)  # a file at or above it is one line, before the fits
    if out_dir.exists() and any(out_dir.iterdir()) and not all((out_dir / m).exists() for m in MARKER_FILES):
        raise ConfigError(f"{out_dir}: exists and is not a scalinglab report; choose another --out")


def _swap(tmp: Path, out_dir: Path) -> None:
    """Put the finished folder in place of the old report (two renames; the old one is then deleted)."""
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class _Figure:
    """A figure written in both formats (png, svg are Paths in the temp folder)."""

    png: Path
    svg: Path
    title: str
    caption: str
    section: str


def _save(draw, folder: Path, name: str, size=style.FIGSIZE) -> tuple[Path, Path]:
    return style.render(draw, folder / f"{name}.png", size), style.render(draw, folder / f"{name}.svg", size)


def _draw(data: StudyData, f: Findings, folder: Path) -> list[_Figure]:
    out = []
    png, svg = _save(lambda figure: _compute_axes(figure.add_subplot(), data, f), folder, "loss_vs_compute",
                     style.WIDE)
    out.append(_Figure(png, svg, "Loss vs compute", _compute_caption(data, f), "compute"))
    if f.repeats is not None and f.repeats.contrast is not None:
        png, svg = _save(lambda figure: regimes.draw_contrast(figure, f.repeats.contrast, data.labels), folder,
                         "regimes", (style.WIDE[0] * 1.25, style.WIDE[1] * 1.6))
        out.append(_Figure(png, svg, "Two regimes side by side", regimes.CONTRAST_CAPTION, "regimes"))
    for h in f.hyper.values():
        out += _hyper_figures(h, data, folder)
    for setting, effects in f.settings.items():
        out.append(_setting_figure(setting, effects, data, folder))
    arms = [a for a in data.study.arms if traces(data, a)]
    if arms:
        cols = min(2, len(arms))
        rows = math.ceil(len(arms) / cols)

        def draw_curves(figure):
            axes = np.atleast_1d(figure.subplots(rows, cols, squeeze=False).ravel())
            for ax, arm in zip(axes, arms):
                fig.learning_curves(ax, traces(data, arm), title=data.labels[arm] if len(arms) > 1 else "")
            for ax in axes[len(arms):]:
                ax.set_visible(False)

        png, svg = _save(draw_curves, folder, "learning_curves",
                         (style.FIGSIZE[0] * (1.0 if cols == 1 else 1.6), style.FIGSIZE[1] * rows))
        out.append(_Figure(png, svg, "Train and eval loss vs step",
                           "Per width, the longest run (at the best LR when LR is swept): train loss (solid, mean "
                           "over each logging window) and held-out eval loss (dashed). The distance between them is "
                           "the generalization gap. " + regimes.caption_note(data.table), "curves"))
    return out


def _compute_axes(ax, data: StudyData, f: Findings):
    groups, curves = [], []
    lo = hi = None
    done = f.fit_rows
    for arm in data.study.arms:
        rows = done[done["arm"] == arm]
        div = data.diverged()
        div = div[div["arm"] == arm]
        groups.append(fig.Points(data.labels[arm], rows["compute"].to_numpy(float), rows["loss"].to_numpy(float),
                                 div["planned_compute"].to_numpy(float), regimes.repeated(rows)))
        xs = np.concatenate([rows["compute"].to_numpy(float), div["planned_compute"].to_numpy(float)])
        if xs.size:
            lo = xs.min() if lo is None else min(lo, xs.min())
            hi = xs.max() if hi is None else max(hi, xs.max())
    marks = []
    head = f.headline
    if head is not None:
        x = head.comparison.crossing
        # A crossing far past the target would squash the data into a corner; the text still says where.
        if x.compute is not None and f.target_compute and x.compute <= 30 * f.target_compute:
            ilo, ihi = x.interval
            # A fit through exactly 3 runs resamples to itself: its "interval" is a point, not drawn.
            shaded = (math.isfinite(ilo) and math.isfinite(ihi) and ihi > 1.01 * ilo
                      and not summary.exact(head.comparison.fit_a) and not summary.exact(head.comparison.fit_b))
            marks.append(fig.Mark(x.compute, f"crossover {head.a}/{head.b}" + (" (95% interval shaded)" if shaded else ""),
                                  ilo if shaded else None, ihi if shaded else None))
            hi = max(hi, x.compute)
    if f.target_compute:
        marks.append(fig.Mark(f.target_compute, f"target {summary.flops(f.target_compute)} FLOPs"))
        hi = max(hi, f.target_compute) if hi is not None else f.target_compute
    for arm in data.study.arms:
        fit = f.fits[arm].fit
        if fit is None or lo is None:
            curves.append(None)
            continue
        grid = np.geomspace(lo / 1.3, hi * 1.3, 200)
        band = fit.frontier_interval(grid) if fit.has_spread else (None, None)
        p = fit.params
        curves.append(fig.Curve(grid, fit.frontier(grid), band[0], band[1],
                                f"fit: {p['E']:.2f} + {p['A']:.3g}·C^-{p['alpha']:.3f}",
                                fit.data_range["compute"][1]))
    return fig.loss_vs_compute(ax, groups, curves, marks)


def _compute_caption(data: StudyData, f: Findings) -> str:
    n_div = len(data.diverged())
    parts = ["Final eval loss of each complete run against training compute (log-log); per arm the fitted "
             "L(C) = E + A·C^-α (solid over the runs, dashed beyond: a forecast) with its 95% bootstrap band."]
    if any(h in data.swept for h in ("lr", "batch_size", "weight_decay", "l2")):
        parts.append("Swept hyperparameters are tuned out: each compute point shows its best run.")
    if n_div:
        parts.append(f"× on the top edge: the {n_div} diverged run(s), at their planned compute, not fitted.")
    if f.target_compute:
        parts.append(f"Dotted line: the target compute ({f.target_source}).")
    parts.append(regimes.caption_note(f.fit_rows, drawn_hollow=True))
    parts.append(f"{summary.CONVENTION}.")
    return " ".join(parts)


def _hyper_figures(h: Hyper, data: StudyData, folder: Path) -> list[_Figure]:
    if h.report is None:
        return []
    name = {"lr": "LR", "batch_size": "batch size"}[h.hparam]
    multi = len(h.report.laws) > 1
    groups, optimum, stable, optima = [], [], [], []
    for arm, law in h.report.laws.items():
        for o in law.optima:
            at = f"D={o.by_value:g}" if h.by == "width" else f"C={summary.flops(o.by_value)}"
            label = f"{arm}, {at}" if multi else at
            grid, loss, div = np.array(o.grid), np.array(o.loss), np.array(o.diverged, dtype=bool)
            groups.append(fig.Points(label, grid[~div], loss[~div], grid[div]))
            optimum.append(o.optimum if o.status == "ok" else (o.best_grid if o.status != "all_diverged" else None))
            stable.append(o.largest_stable if o.diverged_in_grid else None)
        found = [o for o in law.optima if o.status != "all_diverged"]
        if found:
            by = np.array([o.by_value for o in found])
            curve = None
            lw = law.optimum_law
            if lw.status in ("ok", "exact"):
                grid = np.geomspace(by.min() / 1.2, by.max() * 1.2, 50)
                band = lw.predict_interval(grid)
                var = "D" if h.by == "width" else "C"
                curve = fig.Curve(grid, lw.predict(grid), band[0], band[1],
                                  f"{data.labels.get(arm, arm) if multi else 'fit'}: {lw.coefficient:.3g}·{var}^{lw.exponent:.2f}")
            optima.append(fig.Optima(data.labels.get(arm, arm), by, np.array([o.optimum for o in found]),
                                     np.array([o.largest_stable if o.diverged_in_grid else np.nan for o in found]),
                                     curve))
    stem = "lr" if h.hparam == "lr" else "batch"
    out = []
    png, svg = _save(lambda figure: fig.loss_vs_hparam(figure.add_subplot(), groups, h.hparam, optimum, stable),
                     folder, f"loss_vs_{stem}", style.WIDE)
    out.append(_Figure(png, svg, f"Loss vs {name}",
                       f"Final eval loss against {name}, one curve per {'width' if h.by == 'width' else 'budget'}"
                       f"{' and batch size' if h.hparam == 'lr' and 'batch_size' in data.swept else ''}. "
                       f"Star: the optimum (vertex of a parabola in log {name} through the best point and its "
                       f"neighbours; the best grid point when that is at the edge). Dotted: the largest {name} that "
                       f"did not diverge. ×: diverged runs. {regimes.caption_note(data.table)}", stem))
    if max(len(law.optima) for law in h.report.laws.values()) < 2:
        return out  # one width or budget: no law to draw
    png, svg = _save(lambda figure: fig.hparam_law(figure.add_subplot(), optima, h.hparam, h.by),
                     folder, f"{stem}_law")
    out.append(_Figure(png, svg, f"Optimal {name} vs {'width' if h.by == 'width' else 'compute'}",
                       f"Optimal {name} (stars) and largest stable {name} (open triangles) per "
                       f"{'width' if h.by == 'width' else 'budget'}, log-log, with the power law fitted to the "
                       f"interior optima and its 95% band.", stem))
    return out


def _setting_figure(setting: str, effects: list[SettingEffect], data: StudyData, folder: Path) -> _Figure:
    multi = len({e.arm for e in effects}) > 1
    groups = []
    for e in effects:
        x, loss = np.array(e.values), np.array(e.loss)
        ok = np.isfinite(loss)
        label = f"{e.arm}, D={e.width}" if multi else f"D={e.width}"
        groups.append(fig.Points(label, x[ok], loss[ok], x[~ok]))
    arms = list(dict.fromkeys(e.arm for e in effects))
    widths = sorted({e.width for e in effects})
    colours = [arms.index(e.arm) for e in effects]  # colour: the arm; marker: the width
    markers = [widths.index(e.width) for e in effects]
    png, svg = _save(lambda figure: fig.loss_vs_setting(figure.add_subplot(), groups, setting, colours, markers),
                     folder, f"loss_vs_{setting}", style.WIDE)
    name = fig.SETTING_LABELS.get(setting, setting)
    return _Figure(png, svg, f"Loss vs {setting}",
                   f"Final eval loss against the {name}, one line per {'arm and ' if multi else ''}width"
                   + (" (the best LR at each value)" if "lr" in data.swept else "") + ". ×: every run at that "
                   f"value diverged. {regimes.caption_note(data.table)}", "settings")


def _sentences(data: StudyData, f: Findings) -> list[tuple[str, list[str]]]:
    labels = data.labels
    fits = [summary.fit_sentence(fit, labels[arm]) for arm, fit in f.fits.items()]
    forecast = []
    if f.target_compute:
        forecast.append(f"Target compute {summary.flops(f.target_compute)} FLOPs ({f.target_source}; choose it "
                        f"with --target-compute).")
    if f.baseline and len(data.study.arms) > 1:
        forecast.append(f"Every arm is compared with {labels[f.baseline]}, the study's first arm that could be fitted.")
    for p in f.pairs:
        forecast += summary.pair_sentences(p, labels) + regimes.mix_sentences(f.fit_rows, p.a, p.b)
    out = [("Scaling fits", fits), ("Forecast and backtest", forecast)]
    for h in f.hyper.values():
        out.append(({"lr": "Learning rate", "batch_size": "Batch size"}[h.hparam], summary.hyper_sentences(h, labels)))
    if f.settings:
        out.append(("Other swept settings", [line for setting, effects in f.settings.items()
                                             for line in summary.setting_sentences(setting, effects, labels)]))
    out.append(("Training curves", _gap_sentences(data)))
    out[:0] = regimes.sections(data, f)  # when runs repeat data, it comes first
    if data.decisions is not None and len(data.decisions):
        out.append(("Adaptive decisions", summary.decision_sentences(data)))
    return out


def _gap_sentences(data: StudyData) -> list[str]:
    rows = [r for r in run_rows(data) if r["gap"] is not None]
    if not rows:
        return []
    gaps = np.array([r["gap"] for r in rows])
    out = [f"Generalization gap (final eval − final train loss) over {len(rows)} complete runs: median "
           f"{np.median(gaps):+.3f} nats, range {gaps.min():+.3f} to {gaps.max():+.3f}. The train loss is the mean "
           f"over the last logging window, each batch scored before the model trained on it: in one epoch it is "
           f"already a loss on unseen text, so a gap near zero means no overfitting."]
    unseen = [r for r in rows if r["unseen"] is not None]
    if unseen:
        window = np.array([r["unseen"] - r["final_train_loss"] for r in unseen])
        document = np.array([r["final_eval_loss"] - r["unseen"] for r in unseen])
        out.append(f"Split over {len(unseen)} runs by the final loss on training windows each run never took (from "
                   f"documents it trained on elsewhere): those windows minus the train loss, median "
                   f"{np.median(window):+.3f} nats ({window.min():+.3f} to {window.max():+.3f}), near zero when "
                   f"nothing is memorised window by window; held-out documents minus those windows, median "
                   f"{np.median(document):+.3f} ({document.min():+.3f} to {document.max():+.3f}): what a new "
                   f"document costs, its own text or the model's knowledge of the training documents.")
    return out


DECISIONS = [
    html.Column("step", "step", "int"), html.Column("action", "action", "text"),
    html.Column("p_b_beats_a", "P(B beats A)", "num"), html.Column("delta", "Δ loss", "num"),
    html.Column("delta_lo", "Δ low", "num"), html.Column("delta_hi", "Δ high", "num"),
    html.Column("spent_flops", "FLOPs spent", "sci"), html.Column("reason", "why", "err"),
]

TABLE = [
    html.Column("name", "run", "text"), html.Column("arm", "arm", "text"), html.Column("status", "status", "text"),
    html.Column("width", "width", "int"), html.Column("depth", "depth", "int"), html.Column("lr", "peak LR", "sci"),
    html.Column("batch_size", "batch", "int"), html.Column("params", "params N", "int"),
    html.Column("tokens", "tokens", "int"), html.Column("epochs", "epochs", "num"),
    html.Column("compute", "FLOPs (6ND)", "sci"), html.Column("final_train_loss", "train loss", "num"),
    html.Column("eval", "eval loss ± se", "text"), html.Column("unseen", "unseen train", "num"),
    html.Column("gap", "gap", "num"), html.Column("note", "note", "err"),
]


def _table_rows(data: StudyData) -> list[dict]:
    rows = sorted(run_rows(data), key=lambda r: (data.study.arms.index(r["arm"]), r["planned_compute"] or 0))
    for r in rows:
        ev, se = r["final_eval_loss"], r["final_eval_loss_se"]
        r["eval"] = "" if ev is None else f"{ev:.4g}" + (f" ± {se:.2g}" if se is not None else "")
        r["note"] = (f"diverged at step {r['diverged_step']} of {r['steps_planned'] or '?'}"
                     if r["status"] == "diverged" else (r["error"] or ""))
    return rows


def _page(data: StudyData, f: Findings, verdict: str, figures: list[_Figure],
          sections: list[tuple[str, list[str]]]) -> str:
    counts = data.counts()
    meta = (f"{data.study.path} · {len(data.table)} runs: {counts['complete']} complete, {counts['diverged']} "
            f"diverged, {counts['failed']} failed, {counts['pending'] + counts['running']} not finished · "
            f"generated {time.strftime('%Y-%m-%d %H:%M')}")
    warnings = []
    if counts["failed"]:
        warnings.append(f"{counts['failed']} run(s) failed and are left out of every fit; their errors are in the "
                        f"table below. `scalinglab run` retries them.")
    if counts["pending"] + counts["running"]:
        warnings.append(f"{counts['pending'] + counts['running']} run(s) have no result yet: this report covers the "
                        f"finished ones.")
    for arm, fit in f.fits.items():
        if fit.fit is not None and fit.status != "ok":
            warnings.append(f"The fit of {arm} ended with status '{fit.status}': read its curve with care.")
    text = dict(sections)
    by_section = {}
    for fg in figures:
        by_section.setdefault(fg.section, []).append(
            html.figure(html.FigureFile(fg.png.stem, fg.title, fg.caption, fg.png.name, fg.svg.name)))
    body = [
        ("Loss vs compute", "".join(by_section.get("compute", [])) + html.bullets(text["Scaling fits"])),
        ("Forecast and backtest", html.bullets(text["Forecast and backtest"])
         or '<p class="note">No forecast: no arm could be fitted.</p>'),
    ]
    for stem, title in (("lr", "Learning rate"), ("batch", "Batch size"), ("settings", "Other swept settings")):
        if title in text:
            body.append((title, "".join(by_section.get(stem, [])) + html.bullets(text[title])))
    body.append(("Training curves", "".join(by_section.get("curves", [])) + html.bullets(text["Training curves"])))
    body = regimes.page_sections(data, f, text, by_section) + body
    if data.decisions is not None and len(data.decisions):
        body.append(("Adaptive decisions", html.bullets(text.get("Adaptive decisions", []))
                     + html.table(DECISIONS, data.decisions.to_dict("records"))))
    rows = _table_rows(data)
    body.append((f"Runs ({len(rows)})", f'<p class="note">{html.esc(summary.CONVENTION)}. Eval loss in nats per '
                 f"token on held-out documents; gap = eval − train.</p>" + html.table(TABLE, rows, "status")))
    desc = data.study.description.strip()
    if desc:
        meta += f" · {desc}"
    return html.page(f"Study {data.study.name}", meta, verdict, warnings, body)
