"""How good is the advisor's shortcut? The decision after a simulated run by reweighting the draws, against a refit.

analysis.advice values a candidate run by simulating its outcome and updating the decision's shares
(B better, equivalent, A better) by importance reweighting of the comparison's posterior draws,
instead of refitting the joint models to every simulated outcome. This script takes replay states
(benchmarks/advisor.py: some runs shown, the rest hidden), simulates outcomes of the best
candidates exactly as the advisor does, and refits the comparison with each simulated run added.
It prints, per candidate, the expected drop of the decision's entropy both ways (the value the
advisor ranks by), how far P(B better) is apart, and whether a verdict would be decided.

    python benchmarks/preposterior.py             # 3 states x 3 candidates x 16 outcomes
    python benchmarks/preposterior.py --sims 8 --draws 800

The latest figures are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from advisor import DATA, STANDARD, candidates, runs_of

from scalinglab.analysis import Columns, compare_arms, load_table, select_runs
from scalinglab.analysis.advising.advice import advise, entropy, regions, simulate
from scalinglab.analysis.deciding.verdict import LEVEL, verdict_kind
from scalinglab.analysis.evaluating.synthetic import table
from scalinglab.analysis.reading.table import filter_rows


def states():
    """(name, checked table of both arms, shown (group, run) keys, a, b, target)."""
    for scenario, seed, sizes in (("inside", 1, 4), ("beyond", 0, 6)):
        df, _ = table(scenario, seed)
        frame = select_runs(df, Columns(), checkpoints="all").frame
        shown = {(g, r) for g, r, n in zip(frame["group"], frame["run"], frame["params"])
                 if n <= np.sort(frame["params"].unique())[sizes - 1] * 1.001}
        yield f"synthetic {scenario} #{seed}, {sizes} sizes", frame, shown, "a", "b", 10 * float(df["compute"].max())
    gadre = filter_rows(load_table(DATA / "gadre2024-overtraining.csv"), "eval_set == 'c4_val'")
    frame = select_runs(gadre, Columns(group="train_data"), checkpoints="all").frame
    frame = frame[frame["group"].isin(["c4_original", "rw_original"])]
    small = np.sort(frame["params"].unique())[:3]
    shown = {(g, r) for g, r, n in zip(frame["group"], frame["run"], frame["params"]) if n in small}
    yield "gadre c4_val c4 vs rw, 3 sizes", frame, shown, "c4_original", "rw_original", 5.4e22


def rows_for(frame: pd.DataFrame, keys, losses) -> pd.DataFrame:
    """The candidate's rows (its hidden runs) with their losses replaced by simulated ones."""
    parts = []
    for (group, run), loss in zip(keys, losses):
        rows = frame[(frame["group"] == group) & (frame["run"] == run)].copy()
        rows = rows[rows["compute"] == rows["compute"].max()]
        parts.append(rows.assign(loss=float(loss)))
    return pd.concat(parts)


def with_attrs(frame: pd.DataFrame, attrs: dict) -> pd.DataFrame:
    frame.attrs = attrs
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=16)
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--draws", type=int, default=1600)
    args = parser.parse_args()
    gaps, agree, order = [], [], []
    for name, frame, shown, a, b, target in states():
        frame.attrs = {"source": name}
        start = time.perf_counter()
        view = with_attrs(frame[[(g, r) in shown for g, r in zip(frame["group"], frame["run"])]], frame.attrs)
        c = compare_arms(view, a, b, columns=STANDARD, target_compute=target, draws=args.draws, backtest=False)
        runs = runs_of(frame)
        hidden = set(zip(runs["group"], runs["run"])) - shown
        advice = advise(c, candidates(runs, hidden, a, b), sims=200)
        now = float(entropy(regions(c.draws.loss_b - c.draws.loss_a, c.forecast.margin).mean(axis=0)))
        print(f"{name}: P(b better) now {advice.p:.3f}, every joint model weighed: {'yes' if advice.can_settle else 'no'}")
        gains = []
        for v in advice.values[: args.top]:
            cand = v.candidate
            o = simulate(c, cand, np.random.default_rng(0), args.sims)
            keys = [({"a": a, "b": b}[side], run) for side, run in zip(cand.arms, cand.run_ids)]
            refit_p, refit_h, refit_decided = [], [], []
            for j in range(args.sims):
                more = rows_for(frame, keys, np.exp(o.log_loss[:, j]))
                grown = with_attrs(pd.concat([view, more]), frame.attrs)
                r = compare_arms(grown, a, b, columns=STANDARD, target_compute=target, draws=args.draws,
                                 backtest=False)
                refit_p.append(r.forecast.p_b_better)
                refit_h.append(float(entropy(regions(r.draws.loss_b - r.draws.loss_a, r.forecast.margin)
                                             .mean(axis=0))))
                refit_decided.append(r.verdict.kind != "uncertain")
            decided_w = np.array([verdict_kind(p, s[1], LEVEL) != "uncertain" for p, s in zip(o.p_after, o.shares)])
            gain_w, gain_r = now - float(entropy(o.shares).mean()), now - float(np.mean(refit_h))
            gap = np.abs(o.p_after - np.array(refit_p))
            gaps += list(gap)
            agree += list(decided_w == np.array(refit_decided))
            gains.append((gain_w, gain_r))
            print(f"  {cand.label:60s} gain {gain_w:6.3f} bits reweighted, {gain_r:6.3f} refitted; |P gap| median "
                  f"{np.median(gap):.3f}, max {np.max(gap):.3f}; decided {decided_w.mean():.0%} vs "
                  f"{np.mean(refit_decided):.0%}; ESS {np.median(o.ess):.0f}", flush=True)
        w, r = np.array(gains).T
        order.append(int(np.argmax(w) == np.argmax(r)))
        print(f"  the best by reweighting is the best by refits: {'yes' if order[-1] else 'no'} "
              f"({time.perf_counter() - start:.0f} s)")
    print(f"\n{len(gaps)} simulated outcomes: |P reweighted - P refitted| median {np.median(gaps):.3f}, 90th "
          f"percentile {np.quantile(gaps, 0.9):.3f}; decided or not agree in {np.mean(agree):.0%}; the same best "
          f"candidate in {sum(order)} of {len(order)} states.")


if __name__ == "__main__":
    main()
