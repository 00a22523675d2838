"""Repeated data drawn: the two regimes side by side, each recipe against its regime's baseline."""

from __future__ import annotations

import numpy as np

from scalinglab.report.regimes.findings import Contrast
from scalinglab.report.regimes.sentences import span

CONTRAST_CAPTION = (
    "The two regimes side by side (Xiao 2024): left, runs that see each training token at most once; right, runs "
    "that repeat a small slice of the data many times. Top: each recipe's final eval loss minus its regime's "
    "baseline, per width (below the dotted zero: the lever helps). Bottom: each arm's generalization gap, final "
    "eval minus final train loss. Rows share their y axis, so the two regimes read on one scale.")


def draw_contrast(figure, c: Contrast, labels: dict[str, str]) -> None:
    """Two columns (one epoch, many epochs) × two rows (change of loss vs the baseline, generalization gap)."""
    from scalinglab.report import figures as fig

    axes = figure.subplots(2, 2, sharey="row", squeeze=False)
    order = list(dict.fromkeys([c.recipe_of[c.one.baseline], c.recipe_of[c.many.baseline], *c.lever_names()]))

    def colour(arm: str) -> int:
        return order.index(c.recipe_of.get(arm, arm)) if c.recipe_of.get(arm, arm) in order else len(order)

    def label(arm: str) -> str:
        return labels.get(c.recipe_of.get(arm, arm), arm)

    # Legends name recipes (the first arm's label), so a lever reads and colours the same in both columns.
    for col, r in enumerate((c.one, c.many)):
        fig.by_width(axes[0, col], [fig.Line(label(e.arm), np.array(e.widths, float), np.array(e.delta),
                                             colour(e.arm)) for e in r.levers],
                     "final eval loss − baseline (nats)", f"{r.name} ({span(r.epochs)} epochs), vs {r.baseline}")
        fig.by_width(axes[1, col], [fig.Line(label(arm), np.array(w, float), np.array(g), colour(arm))
                                    for arm, (w, g) in r.gaps.items()], "eval − train loss (nats)")
