"""The report in words: the verdict sentence, findings a person can act on, summary.json and summary.md.

Sentences name arms by their label ('scaled (lr 2/width)'), compute in FLOPs under the 6·N·D
convention (N non-embedding, the analysis default), losses in nats per token.
"""

from __future__ import annotations

import html
import math

import numpy as np

from scalinglab.analysis.serialize import jsonable
from scalinglab.report.collect import StudyData, run_rows
from scalinglab.report.findings import ArmFit, Findings, Hyper, Pair

CONVENTION = "compute C = 6·N·D FLOPs, N = non-embedding parameters, D = training tokens"
CLOSE_CALL = 0.6
"""Below this probability of winning the forecast is called too close to separate the arms."""


def flops(x: float | None) -> str:
    """3.2e+15 -> '3.2e15' (the form people type on the command line)."""
    if x is None or not math.isfinite(x):
        return "?"
    mantissa, _, exp = f"{x:.2g}".partition("e")
    return f"{mantissa}e{int(exp)}" if exp else mantissa


def _loss(x: float | None) -> str:
    return "?" if x is None or not math.isfinite(x) else f"{x:.3f}"


def probability(p: float) -> str:
    """Two decimals, but never a certain-looking 1.00 or 0.00 from a finite bootstrap."""
    return "above 0.99" if p > 0.995 else "below 0.01" if p < 0.005 else f"{p:.2f}"


def exact(fit) -> bool:
    """As many runs as the law has parameters: the curve goes through the points, the bootstrap
    resamples cannot vary it, and its band says nothing."""
    return fit.n_runs <= fit.law.n_params


def _degenerate(pair: Pair) -> bool:
    return exact(pair.comparison.fit_a) or exact(pair.comparison.fit_b)


def _interval(lo: float, hi: float, fmt=_loss) -> str:
    return "" if not (math.isfinite(lo) and math.isfinite(hi)) else f"{fmt(lo)}–{fmt(hi)}"


def verdict(data: StudyData, f: Findings) -> str:
    """One sentence on what the study says at the target compute."""
    label = data.labels
    pair = f.headline
    if pair is not None:
        fc = pair.comparison.forecast
        at = f"At {flops(fc.compute)} FLOPs"
        p_b = fc.p_b_beats_a
        if not math.isfinite(p_b) or _degenerate(pair):
            win, lose, lw, ll = (pair.b, pair.a, fc.loss_b, fc.loss_a) if fc.loss_b < fc.loss_a else \
                (pair.a, pair.b, fc.loss_a, fc.loss_b)
            why = ("no bootstrap, so no probability" if not math.isfinite(p_b) else
                   "no probability: a fit through as many runs as the law has parameters has no spread to "
                   "resample; add sizes before acting on it")
            return f"{at}, {label[win]} is predicted to beat {label[lose]} (loss {_loss(lw)} vs {_loss(ll)}; {why})."
        win, lose, p = (pair.b, pair.a, p_b) if p_b >= 0.5 else (pair.a, pair.b, 1 - p_b)
        lw, ll = (fc.loss_b, fc.loss_a) if win == pair.b else (fc.loss_a, fc.loss_b)
        if p < CLOSE_CALL:
            return (f"{at}, the forecast cannot separate {label[pair.a]} and {label[pair.b]}: {label[win]} "
                    f"comes out ahead in only {p:.0%} of bootstrap resamples (loss {_loss(lw)} vs {_loss(ll)}).")
        return (f"{at}, {label[win]} is predicted to beat {label[lose]} with probability {probability(p)} "
                f"(loss {_loss(lw)} vs {_loss(ll)}).")
    if f.baseline is not None and f.target_compute is not None:
        fit = f.fits[f.baseline].fit
        lo, hi = (float(v[0]) for v in fit.predict_interval(f.target_compute)) if fit.bootstrap else (math.nan,) * 2
        band = "" if exact(fit) else _interval(lo, hi)
        others = [a for a in data.study.arms if a != f.baseline]
        tail = f"; no other arm could be compared ({others[0]}: {f.fits[others[0]].reason})" if others else ""
        return (f"At {flops(f.target_compute)} FLOPs, {label[f.baseline]} is predicted to reach a loss of "
                f"{_loss(float(fit.predict(f.target_compute)[0]))}" + (f" (95% interval {band})" if band else "")
                + f"{tail}.")
    first = next(iter(f.fits.values()), None)
    why = f"{first.arm}: {first.reason}" if first is not None else "the study has no arms"
    return f"No scaling law could be fitted, so there is no forecast ({why}); the figures show the runs as observed."


def fit_sentence(fit: ArmFit, label: str) -> str:
    if fit.fit is None:
        return f"{label}: no fit: {fit.reason}."
    p, iv = fit.fit.params, fit.fit.intervals()
    alpha_iv = _interval(*iv["alpha"], fmt=lambda x: f"{x:.3g}")
    e_iv = _interval(*iv["E"])
    status = "" if fit.status == "ok" else f" [fit status: {fit.status}]"
    if exact(fit.fit):
        return (f"{label}: L(C) = {p['E']:.3f} + {p['A']:.3g}·C^-{p['alpha']:.3g} through {fit.fit.n_runs} runs, "
                f"as many as the law's parameters: the curve passes through them, so there is no real interval "
                f"(more sizes would give one){status}.")
    return (f"{label}: L(C) = {p['E']:.3f} + {p['A']:.3g}·C^-{p['alpha']:.3g} from {fit.fit.n_points} runs"
            + (f"; α 95% interval {alpha_iv}" if alpha_iv else "") + (f", E {e_iv}" if e_iv else "") + f"{status}.")


def pair_sentences(pair: Pair, labels: dict[str, str]) -> list[str]:
    a, b = labels[pair.a], labels[pair.b]
    if pair.comparison is None:
        return [f"{b} vs {a}: no comparison: {pair.reason}."]
    c = pair.comparison
    out = [observed_sentence(c.observed, a, b)]
    fc = c.forecast
    if _degenerate(pair):
        out.append(f"At {flops(fc.compute)} FLOPs the fits predict {_loss(fc.loss_b)} for {b} and {_loss(fc.loss_a)} "
                   f"for {a}; with no more runs than parameters per fit, the bootstrap cannot give a probability "
                   f"or intervals.")
    elif math.isfinite(fc.p_b_beats_a):
        out.append(f"At {flops(fc.compute)} FLOPs ({fc.decades_beyond_data:.1f} decades beyond the largest run), "
                   f"{b} beats {a} with probability {probability(fc.p_b_beats_a)}: predicted loss {_loss(fc.loss_b)} "
                   f"({_interval(*fc.interval_b)}) vs {_loss(fc.loss_a)} ({_interval(*fc.interval_a)}).")
    x = c.crossing
    lo, hi = x.data_range
    if x.kind in ("in_range", "extrapolated") and x.compute is not None:
        where = "inside the range of the runs" if x.kind == "in_range" else \
            f"{math.log10(x.compute / hi):.1f} decades beyond the largest run"
        iv = "" if _degenerate(pair) else _interval(*x.interval, fmt=flops)
        winner = labels[pair.b if x.winner_after == "b" else pair.a]
        out.append(f"The fitted curves of {a} and {b} cross at {flops(x.compute)} FLOPs "
                   + (f"(95% interval {iv}) " if iv else "") + f"{where}; above it {winner} is ahead.")
    elif x.kind == "none":
        ahead = b if float(np.subtract(*c.predict(lo))[0]) > 0 else a
        out.append(f"The fitted curves of {a} and {b} do not cross between {flops(lo)} FLOPs and 6 decades beyond "
                   f"the largest run: {ahead} is ahead throughout"
                   + (f" (they cross in {x.p_cross:.0%} of bootstrap pairs)."
                      if math.isfinite(x.p_cross) and not _degenerate(pair) else "."))
    else:
        at = " and ".join(f"{flops(r)} FLOPs ({'inside' if r <= hi * (1 + 1e-9) else 'beyond'} the runs)"
                          for r in x.crossings)
        first = (f"; the first at 95% interval {_interval(*x.interval, fmt=flops)}, crossing in {x.p_cross:.0%} "
                 f"of bootstrap pairs" if math.isfinite(x.p_cross) and not _degenerate(pair) else "")
        out.append(f"Whether {a} and {b} trade places once is ambiguous: the fitted curves cross at {at}{first}. "
                   f"Runs at larger compute would settle it." if x.crossings else
                   f"Whether {a} and {b} cross is ambiguous: the fitted curves do not cross, but {x.p_cross:.0%} of "
                   f"bootstrap pairs do; runs at larger compute would settle it.")
    if x.warning:
        out.append(f"Caution: {x.warning}.")
    out.append(backtest_sentence(pair, labels))
    return out


def observed_sentence(o, a: str, b: str) -> str:
    """The measured evidence, before any fit: loss of b minus loss of a at each size both ran."""
    diffs = ", ".join(f"{size:g} {d:+.3f}" for size, d in zip(o.sizes, o.diff))
    if not o.sign_changes:
        where = "the sign never flips"
    else:
        where = "the sign flips " + "; ".join(f"between {o.key} {lo:g} and {hi:g}" for lo, hi in o.sign_changes)
    text = f"Measured, eval loss of {b} minus {a} by {o.key} (negative: {b} ahead): {diffs}; {where}."
    lo, hi = min(o.compute_ratio), max(o.compute_ratio)
    if o.key != "compute" and (hi > 1.05 or lo < 1 / 1.05):
        spread = f"{lo:.2g}×" if hi < 1.05 * lo else f"{lo:.2g}–{hi:.2g}×"
        text += (f" At equal {o.key} {b} spends {spread} the compute of {a}, so this is not a comparison at equal "
                 f"compute; the fitted curves are.")
    return text


def backtest_sentence(pair: Pair, labels: dict[str, str]) -> str:
    bt, key = pair.comparison.backtest, pair.comparison.observed.key
    if bt.status != "ok":
        return ("Backtest not possible: it needs two or more sizes that both arms ran, and at least 3 runs per "
                "arm below the largest one.")
    name = {"a": labels[pair.a], "b": labels[pair.b]}
    size = f"{key} {bt.held_out_size:g}" if key != "compute" else f"compute {flops(bt.held_out_size)}"
    p = f" (probability {probability(bt.p_b_beats_a if bt.predicted_winner == 'b' else 1 - bt.p_b_beats_a)})" \
        if bt.p_b_beats_a is not None and math.isfinite(bt.p_b_beats_a) else ""
    verdict_ = "right" if bt.correct else "wrong"
    ratio = bt.compute_b / bt.compute_a
    unequal = (f" (where {name['b']} spends {ratio:.2g}× the compute of {name['a']})"
               if key != "compute" and not 1 / 1.05 < ratio < 1.05 else "")
    return (f"Backtest: refitted without the largest {size}{unequal}, the forecast named {name[bt.predicted_winner]} "
            f"the winner there{p}; observed, {name[bt.observed_winner]} won ({labels[pair.a]} {_loss(bt.observed_a)}, "
            f"{labels[pair.b]} {_loss(bt.observed_b)}), so the forecast was {verdict_}. Misses (predicted − "
            f"observed): {bt.miss_a:+.3f} and {bt.miss_b:+.3f} nats.")


def setting_sentences(setting: str, effects, labels: dict[str, str]) -> list[str]:
    """Per arm: the best value of a swept setting at each width, and what the worst one costs."""
    out = []
    for arm in dict.fromkeys(e.arm for e in effects):
        parts = [f"D={e.width}: best {e.best:g} ({_loss(e.best_loss)}), worst {e.worst:g} "
                 f"({e.worst_loss - e.best_loss:+.3f})" for e in effects if e.arm == arm]
        out.append(f"{labels.get(arm, arm)}, {setting}: " + "; ".join(parts) + ".")
    return out


def hyper_sentences(h: Hyper, labels: dict[str, str]) -> list[str]:
    name = {"lr": "LR", "batch_size": "batch size"}[h.hparam]
    if h.report is None:
        return [f"{name} sweep: no analysis: {h.reason}."]
    out = []
    for arm, law in h.report.laws.items():
        for o in law.optima:
            at = f"D={o.by_value:g}" if h.by == "width" else f"C={flops(o.by_value)} FLOPs"
            if o.status == "all_diverged":
                out.append(f"{labels.get(arm, arm)}, {at}: every {name} in the grid diverged.")
                continue
            opt = {"ok": f"optimal {name} ≈ {o.optimum:.3g}",
                   "edge": f"best {name} {o.best_grid:.3g} is at the edge of the stable grid (the optimum may lie beyond)",
                   "not_convex": f"best {name} {o.best_grid:.3g} (the curve is not convex around it)"}[o.status]
            stable = (f"largest stable {o.largest_stable:.3g}" if o.diverged_in_grid
                      else f"nothing diverged up to {o.largest_stable:.3g}")
            out.append(f"{labels.get(arm, arm)}, {at}: {opt}, loss {_loss(o.best_loss)}; {stable}.")
        lw = law.optimum_law
        var = "D" if h.by == "width" else "C"
        if lw.status in ("ok", "exact"):
            iv = _interval(*lw.intervals["exponent"], fmt=lambda x: f"{x:.2f}")
            out.append(f"{labels.get(arm, arm)}: optimal {name} ≈ {lw.coefficient:.3g}·{var}^{lw.exponent:.2f}"
                       + (f" (exponent 95% interval {iv})" if iv else " (through 2 points: no interval)") + ".")
        elif len(law.optima) > 1:  # with one width or budget there is no law to ask for
            out.append(f"{labels.get(arm, arm)}: no law for the optimal {name} (needs interior optima at two or more "
                       f"{'widths' if h.by == 'width' else 'budgets'}).")
    return out


def summary_dict(data: StudyData, f: Findings, verdict_text: str, figures: list[str]) -> dict:
    """summary.json: everything the page says, for machines."""
    counts = data.counts()
    return jsonable({
        "study": {"name": data.study.name, "path": str(data.study.path), "description": data.study.description,
                  "arms": list(data.study.arms), "swept": list(data.swept)},
        "convention": CONVENTION,
        "verdict": verdict_text,
        "runs": counts | {"total": len(data.table)},
        "target_compute": f.target_compute,
        "target_compute_source": f.target_source,
        "baseline": f.baseline,
        "fits": {arm: _fit_dict(fit) for arm, fit in f.fits.items()},
        "forecast": _forecast(f),
        "comparisons": [_pair_dict(p) for p in f.pairs],
        "hyperparameters": {h: (hy.report.to_dict() | {"by": hy.by} if hy.report else
                                {"status": "insufficient data", "reason": hy.reason, "by": hy.by})
                            for h, hy in f.hyper.items()},
        "settings": {name: [e.__dict__ for e in effects] for name, effects in f.settings.items()},
        "figures": figures,
        "failed_runs": [{"name": r["name"], "error": r["error"]} for r in run_rows(data) if r["status"] == "failed"],
        "table": run_rows(data),
    })


def _fit_dict(fit: ArmFit) -> dict:
    if fit.fit is None:
        return {"status": "insufficient data", "reason": fit.reason, "n_points": fit.n_points}
    return fit.fit.to_dict()


def _forecast(f: Findings) -> dict | None:
    """Each fitted arm's predicted loss at the target, and the headline comparison's probabilities."""
    if f.target_compute is None:
        return None
    arms = {}
    for arm, fit in f.fits.items():
        if fit.fit is None:
            continue
        lo, hi = (float(v[0]) for v in fit.fit.predict_interval(f.target_compute)) if fit.fit.bootstrap \
            else (math.nan, math.nan)
        arms[arm] = {"loss": float(fit.fit.predict(f.target_compute)[0]), "interval": [lo, hi]}
    head = f.headline
    return {"compute": f.target_compute, "source": f.target_source, "arms": arms,
            "headline": None if head is None else {"a": head.a, "b": head.b,
                                                   "p_b_beats_a": head.comparison.forecast.p_b_beats_a}}


def _pair_dict(p: Pair) -> dict:
    if p.comparison is None:
        return {"a": p.a, "b": p.b, "status": "insufficient data", "reason": p.reason}
    return p.comparison.to_dict() | {"status": "ok"}


def markdown(summary: dict, sections: list[tuple[str, list[str]]]) -> str:
    """summary.md: the verdict, then each section's sentences as bullets, then the run counts."""
    s = summary["study"]
    runs = summary["runs"]
    # The study's name and description are the user's text: Markdown passes raw HTML through, so
    # a description's <script> would run where summary.md is rendered (index.html escapes it too).
    lines = [f"# Study {html.escape(s['name'])}", ""]
    if s["description"]:
        lines += [html.escape(s["description"].strip()), ""]
    lines += [f"**Verdict.** {summary['verdict']}", "",
              f"Runs: {runs['total']} ({runs['complete']} complete, {runs['diverged']} diverged, "
              f"{runs['failed']} failed, {runs['pending'] + runs['running']} not finished). {CONVENTION}.", ""]
    for title, sentences in sections:
        if sentences:
            lines += [f"## {title}", "", *(f"- {x}" for x in sentences), ""]
    lines += ["## Figures", "", *(f"- [{name}]({name})" for name in summary["figures"]), ""]
    return "\n".join(lines)
