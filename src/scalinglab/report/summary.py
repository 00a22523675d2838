"""The report in words: the sections' sentences under the headline (report.headline), summary.json and summary.md.

Sentences name arms by their label ('scaled (lr 2/width)'), compute in FLOPs under the 6·N·D
convention (N non-embedding, the analysis default), losses in nats per token.
"""

from __future__ import annotations

import html

import numpy as np

from scalinglab.analysis.serialize import jsonable
from scalinglab.report import caveats
from scalinglab.report.collect import StudyData, run_rows
from scalinglab.report.findings import ArmFit, Findings, Hyper, Pair
from scalinglab.report.headline import Headline
from scalinglab.report.levers import LeverEffect, signed
from scalinglab.report.regimes import sentences as regime_sentences
from scalinglab.report.sentences import (
    backtest_sentence,
    crossing_sentence,
    decision_reason,
    ending,
    flops,
    forecast_sentence,
    interval,
    loss,
    models_sentence,
    observed_sentence,
    runner_up_sentence,
)

CONVENTION = "compute C = 6·N·D FLOPs, N = non-embedding parameters, D = training tokens"


def exact(fit) -> bool:
    """No spread: the curve passes through its runs (as many as the law's parameters), so the
    bootstrap cannot vary it and its band says nothing."""
    return not fit.has_spread


def fit_sentence(fit: ArmFit, label: str) -> str:
    if fit.fit is None:
        return f"{label}: no fit: {fit.reason}."
    p, iv = fit.fit.params, fit.fit.intervals()
    alpha_iv = interval(*iv["alpha"], fmt=lambda x: f"{x:.3g}")
    e_iv = interval(*iv["E"])
    status = "" if fit.status in ("ok", "exact") else f" [fit status: {fit.status}]"
    shared = f" ({', '.join(fit.fit.shared)} shared with the other arm)" if fit.fit.shared else ""
    if exact(fit.fit):
        return (f"{label}: L(C) = {p['E']:.3f} + {p['A']:.3g}·C^-{p['alpha']:.3g}{shared} through {fit.fit.n_runs} "
                f"runs: the curve passes through them, so there is no real interval (more sizes would give one)"
                f"{status}.{caveats.sentence(fit.fit)}")
    return (f"{label}: L(C) = {p['E']:.3f} + {p['A']:.3g}·C^-{p['alpha']:.3g}{shared} from {fit.fit.n_points} runs"
            + (f"; α 95% interval {alpha_iv}" if alpha_iv else "") + (f", E {e_iv}" if e_iv else "") + f"{status}."
            + caveats.sentence(fit.fit))


def pair_sentences(pair: Pair, labels: dict[str, str]) -> list[str]:
    a, b = labels[pair.a], labels[pair.b]
    if pair.comparison is None:
        return [f"{b} vs {a}: no comparison: {pair.reason}."]
    c = pair.comparison
    out = [observed_sentence(c, a, b), models_sentence(c), forecast_sentence(c, a, b)]
    rival = runner_up_sentence(c, a, b)
    if rival:
        out.append(rival)
    out += [crossing_sentence(c, a, b), backtest_sentence(c.backtest, a, b)]
    return out


def decision_sentences(data: StudyData) -> list[str]:
    """The path of an adaptive study: how P moved as the advised runs finished, and where it stopped."""
    d = data.decisions
    decided = d[d["p_b_beats_a"].notna()]
    last = d.iloc[-1]
    a, b = data.labels.get(last["a"], last["a"]), data.labels.get(last["b"], last["b"])
    path = "; ".join(f"{row.spent_flops:.2g} FLOPs: {row.p_b_beats_a:.2f}" for row in decided.itertuples())
    ends = ending(last["action"])
    out = [f"Adaptive: {len(d)} decisions on {b} against {a} at {flops(last['target_compute'])} FLOPs; "
           f"{ends} after {last['spent_flops']:.3g} FLOPs. Every step refitted the finished runs and trained the "
           f"runs expected to reduce the uncertainty of the decision most per FLOP."]
    if path:
        out.append(f"P({b} better) as compute was spent: {path}.")
    return out


def setting_sentences(setting: str, effects, labels: dict[str, str]) -> list[str]:
    """Per arm: the best value of a swept setting at each width, and what the worst one costs."""
    out = []
    for arm in dict.fromkeys(e.arm for e in effects):
        parts = [f"width {e.width}: best {e.best:g} ({loss(e.best_loss)}), worst {e.worst:g} "
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
            at = f"width {o.by_value:g}" if h.by == "width" else f"C={flops(o.by_value)} FLOPs"
            if o.status == "all_diverged":
                out.append(f"{labels.get(arm, arm)}, {at}: every {name} in the grid diverged.")
                continue
            opt = {"ok": f"optimal {name} ≈ {o.optimum:.3g}",
                   "edge": f"best {name} {o.best_grid:.3g} is at the edge of the stable grid (the optimum may lie beyond)",
                   "not_convex": f"best {name} {o.best_grid:.3g} (the curve is not convex around it)"}[o.status]
            stable = (f"largest stable {o.largest_stable:.3g}" if o.diverged_in_grid
                      else f"nothing diverged up to {o.largest_stable:.3g}")
            out.append(f"{labels.get(arm, arm)}, {at}: {opt}, loss {loss(o.best_loss)}; {stable}.")
        lw = law.optimum_law
        var = "width" if h.by == "width" else "C"
        if lw.status in ("ok", "exact"):
            iv = interval(*lw.intervals["exponent"], fmt=lambda x: f"{x:.2f}")
            out.append(f"{labels.get(arm, arm)}: optimal {name} ≈ {lw.coefficient:.3g}·{var}^{lw.exponent:.2f}"
                       + (f" (exponent 95% interval {iv})" if iv else " (through 2 points: no interval)") + ".")
        elif len(law.optima) > 1:  # with one width or budget there is no law to ask for
            out.append(f"{labels.get(arm, arm)}: no law for the optimal {name} (needs interior optima at two or more "
                       f"{'widths' if h.by == 'width' else 'budgets'}).")
    return out


def lever_sentences(levers: list[LeverEffect], labels: dict[str, str]) -> list[str]:
    """Each lever width by width: 'coupled, l2 = 0.001 against l2 = 0: +0.16 at width 32, ... (hurts)'."""
    return [f"{labels.get(e.arm, e.arm)}" + ("" if e.recipe == e.arm else f", {e.recipe.replace(' ', ' = ', 1)}")
            + f": {', '.join(f'{signed(d)} at width {w}' for w, d in zip(e.widths, e.delta))} nats "
              f"(± {2 * max(e.se):.3f}: {e.verdict})" for e in levers]


def summary_dict(data: StudyData, findings: Findings, head: Headline, figures: list[str]) -> dict:
    """summary.json: everything the page says, for machines."""
    counts = data.counts()
    return jsonable({
        "study": {"name": data.study.name, "path": str(data.study.path), "description": data.study.description,
                  "arms": list(data.study.arms), "swept": list(data.swept)},
        "convention": CONVENTION,
        "verdict": head.text,
        "headline": head.to_dict(),
        "runs": counts | {"total": len(data.table)},
        "target_compute": findings.target_compute,
        "target_compute_source": findings.target_source,
        "baseline": findings.baseline,
        "fits": {arm: _fit_dict(fit) for arm, fit in findings.fits.items()},
        "forecast": _forecast(findings),
        "comparisons": [_pair_dict(p) for p in findings.pairs],
        "hyperparameters": {h: (hy.report.to_dict() | {"by": hy.by} if hy.report else
                                {"status": "insufficient data", "reason": hy.reason, "by": hy.by})
                            for h, hy in findings.hyper.items()},
        "settings": {name: [e.__dict__ for e in effects] for name, effects in findings.settings.items()},
        "levers": [e.__dict__ | {"verdict": e.verdict} for e in findings.levers],
        "figures": figures,
        "failed_runs": [{"name": r["name"], "error": r["error"]} for r in run_rows(data) if r["status"] == "failed"],
        "decisions": [] if data.decisions is None else [
            r | {"reason": decision_reason(r["reason"], r["a"], r["b"])} for r in data.decisions.to_dict("records")],
        "repeated_data": None if findings.repeats is None else findings.repeats.to_dict(),
        "table": run_rows(data),
    })


def _fit_dict(fit: ArmFit) -> dict:
    if fit.fit is None:
        return {"status": "insufficient data", "reason": fit.reason, "n_points": fit.n_points}
    return fit.fit.to_dict() | {"caveats": [c.text for c in caveats.caveats(fit.fit)]}


def _forecast(findings: Findings) -> dict | None:
    """Each fitted arm's predicted loss at the target, and the headline comparison's probabilities."""
    if findings.target_compute is None:
        return None
    arms = {arm: {"loss": value, "interval": [lo, hi]} for arm, (value, lo, hi) in findings.forecasts().items()}
    head = findings.headline
    return {"compute": findings.target_compute, "source": findings.target_source, "arms": arms,
            "headline": None if head is None else {
                "a": head.a, "b": head.b, "p_b_better": head.comparison.forecast.p_b_better,
                "p_run": head.comparison.forecast.p_run, "p_equivalent": head.comparison.forecast.p_equivalent,
                "verdict": head.comparison.verdict.kind, "winner": head.comparison.verdict.winner,
                "uncertain": head.comparison.verdict.uncertain}}


def _pair_dict(p: Pair) -> dict:
    if p.comparison is None:
        return {"a": p.a, "b": p.b, "status": "insufficient data", "reason": p.reason}
    return p.comparison.to_dict() | {"status": "ok"}


def markdown(summary: dict, sections: list[tuple[str, list[str]]]) -> str:
    """summary.md: the headline (finding, forecast), then each section's sentences as bullets, then the run counts."""
    s = summary["study"]
    runs = summary["runs"]
    # The study's name and description are the user's text: Markdown passes raw HTML through, so
    # a description's <script> would run where summary.md is rendered (index.html escapes it too).
    lines = [f"# Study {html.escape(s['name'])}", ""]
    if s["description"]:
        lines += [html.escape(s["description"].strip()), ""]
    head = summary["headline"]
    for title, text in (("Finding", " ".join(head["finding"])), ("Forecast", head["forecast"])):
        if text:
            lines += [f"**{title}.** {text}", ""]
    lines += [f"Runs: {runs['total']} ({runs['complete']} complete, {runs['diverged']} diverged, "
              f"{runs['failed']} failed, {runs['pending'] + runs['running']} not finished). {CONVENTION}.", ""]
    for title, sentences in sections:
        if sentences:
            lines += [f"## {title}", "", *(f"- {x}" for x in sentences), ""]
    lines += ["## Figures", "", *(f"- [{name}]({name})" for name in summary["figures"]), ""]
    return "\n".join(lines)


def sections(data: StudyData, findings: Findings) -> list[tuple[str, list[str]]]:
    """(section title, sentences) of the page and of summary.md, in order."""
    labels = data.labels
    fits = [fit_sentence(fit, labels[arm]) for arm, fit in findings.fits.items()]
    forecast = []
    if findings.target_compute:
        forecast.append(f"Target compute {flops(findings.target_compute)} FLOPs ({findings.target_source}; choose it "
                        f"with --target-compute).")
    if findings.baseline and len(data.study.arms) > 1:
        forecast.append(f"Every arm is compared with {labels[findings.baseline]}, the study's first arm that could be fitted.")
    for p in findings.pairs:
        forecast += pair_sentences(p, labels) + regime_sentences.mix_sentences(findings.fit_rows, p.a, p.b)
    out = [*_regime_sections(data, findings), ("Scaling fits", fits), ("Forecast and backtest", forecast)]
    for h in findings.hyper.values():
        out.append(({"lr": "Learning rate", "batch_size": "Batch size"}[h.hparam], hyper_sentences(h, labels)))
    if findings.settings:
        out.append(("Other swept settings", [line for setting, effects in findings.settings.items()
                                             for line in setting_sentences(setting, effects, labels)]
                     + lever_sentences(findings.levers, labels)))
    out.append(("Training curves", gap_sentences(data)))
    if data.decisions is not None and len(data.decisions):
        out.append(("Adaptive decisions", decision_sentences(data)))
    return out


def _regime_sections(data: StudyData, findings: Findings) -> list[tuple[str, list[str]]]:
    """When runs repeat data, the sections that open the report: the two regimes, the data-constrained law."""
    repeats = findings.repeats
    if repeats is None:
        return []
    out = []
    if repeats.contrast is not None:
        out.append((regime_sentences.CONTRAST_TITLE, regime_sentences.contrast_sentences(repeats.contrast, data.labels)))
    out.append((regime_sentences.REPEATED_TITLE, regime_sentences.repeated_sentences(data.table, repeats.fits, data.labels)))
    return out


def gap_sentences(data: StudyData) -> list[str]:
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
