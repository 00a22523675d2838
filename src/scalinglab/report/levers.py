"""Levers: what changing one thing does to the final eval loss, width by width, against a baseline.

A lever is an arm against its baseline arm (in the two regimes, each regime's first arm) or a value
of a swept setting against the setting's first value (an L2 penalty λ = 1e-3 against λ = 0). Its
effect is the difference of the final eval losses at each width, seeds averaged and the other
swept hyperparameters (LR, batch size) at their best, with the standard error of each difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalinglab.analysis.reading.noise import seed_noise

TUNED = ("lr", "batch_size")
"""Axes a lever's runs are taken at their best over (the loss of the best LR at each width)."""


@dataclass(frozen=True)
class LeverEffect:
    """One lever against its baseline, width by width (final eval loss, lever − baseline)."""

    arm: str
    """The arm whose runs pulled the lever."""
    recipe: str
    """The lever's name: a recipe (its first arm's name, regimes.recipes) or a setting's value ('l2 0.001')."""
    widths: tuple[int, ...]
    delta: tuple[float, ...]
    se: tuple[float, ...]
    """Standard error of each difference from the two runs' eval sampling (no seed noise)."""

    @property
    def mean(self) -> float:
        return float(np.mean(self.delta))

    @property
    def noise(self) -> float:
        """Twice the largest standard error: what a difference must pass to count."""
        se = np.nan_to_num(np.array(self.se))
        return float(2 * se.max()) if len(se) else float("nan")

    @property
    def verdict(self) -> str:
        """'helps' / 'hurts' (beyond twice its standard error at every width), 'no clear effect' (at
        none), or where it does which: 'helps at widths 48, 64', 'helps at width 64, hurts at 32'.

        The standard errors are the eval loss's across rows, unpaired. That errs two ways: the two
        runs are scored on the same rows, so the paired error would be smaller ('no clear effect' too
        often); and seed-to-seed noise is not in it (the two seeds at width 48 in crossover-cpu.toml
        differ by 0.025 nats), so a 'helps' or 'hurts' under ~0.05 nats may be a different seed's luck."""
        d, se = np.array(self.delta), np.nan_to_num(np.array(self.se))
        sides = {"helps": d < -2 * se, "hurts": d > 2 * se}
        for word, where in sides.items():
            if where.all():
                return word
        parts = [f"{word} at width{'s' if where.sum() > 1 else ''} "
                 f"{', '.join(str(w) for w, x in zip(self.widths, where) if x)}" for word, where in sides.items()
                 if where.any()]
        return ", ".join(parts) or "no clear effect"

    @property
    def verb(self) -> str:
        """The verdict as a verb: 'hurts', 'has no clear effect', 'helps at widths 48, 64'."""
        return "has no clear effect" if self.verdict == "no clear effect" else self.verdict


def span(deltas) -> str:
    """'-0.41 to -0.17 nats' (smallest to largest difference), or '+0.038 nats' when one."""
    lo, hi = signed(min(deltas)), signed(max(deltas))
    return f"{lo} nats" if lo == hi else f"{lo} to {hi} nats"


def said(e: LeverEffect, name: str) -> str:
    """'l2 helps (-1.28 to -0.19 nats)', 'l2 has no clear effect (+0.002 nats)', 'large-lr helps at
    widths 48, 64, hurts at width 32 (-3.22 to +0.46 nats)'."""
    return f"{name} {e.verb} ({span(e.delta)})"


def noise_sentence(noise: float, seeds: tuple[float, int]) -> str:
    """How big a difference must be to count (`noise`: twice its standard error from the eval
    tokens), and what that leaves out: the seed-to-seed noise (seed_spread), measured or not."""
    sigma, points = seeds
    text = (f"Noise: a difference counts beyond ±{noise:.3f} nats (twice its standard error from the eval tokens)"
            if np.isfinite(noise) else "Noise: no run reported the standard error of its eval loss")
    if points:
        return text + (f"; seed to seed, one run's loss varies by {sigma:.3f} nats ({points} point"
                       f"{'s' if points > 1 else ''} run with several seeds), so a smaller difference may be luck.")
    return text + "; no point was run with two seeds, so the seed-to-seed noise is not measured and not in that margin."


def signed(x: float) -> str:
    return f"{x:+.3f}" if abs(x) < 10 else f"{x:+.1f}"


def per_width(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean final eval loss, train loss and eval se per width (seeds averaged)."""
    g = rows.groupby("width")
    return pd.DataFrame({"loss": g["loss"].mean(), "train": g["final_train_loss"].mean(),
                         "se": g["final_eval_loss_se"].apply(lambda s: float(np.sqrt((s**2).sum())) / len(s))})


def effect(arm: str, name: str, rows: pd.DataFrame, base: pd.DataFrame) -> LeverEffect | None:
    """rows against base (both finished runs), at the widths both have; None when they share none."""
    mine, theirs = per_width(rows), per_width(base)
    widths = mine.index.intersection(theirs.index)
    if not len(widths):
        return None
    return LeverEffect(arm, name, tuple(int(w) for w in widths),
                       tuple(float(v) for v in mine.loc[widths, "loss"] - theirs.loc[widths, "loss"]),
                       tuple(float(v) for v in np.hypot(mine.loc[widths, "se"], theirs.loc[widths, "se"])))


def at_best(rows: pd.DataFrame, swept: tuple[str, ...]) -> pd.DataFrame:
    """Per width and seed, the best run over the swept hyperparameters of TUNED (all rows if none)."""
    if not any(axis in swept for axis in TUNED):
        return rows
    return rows.sort_values("loss", kind="stable").groupby(["width", "seed"], sort=False).head(1)


def setting_levers(finished: pd.DataFrame, setting: str, arms: tuple[str, ...], swept: tuple[str, ...]
                   ) -> list[LeverEffect]:
    """Per arm, each value of `setting` against its first (smallest) value."""
    values = sorted(finished[setting].dropna().unique())
    out = []
    for arm in arms:
        rows = finished[finished["arm"] == arm]
        base = at_best(rows[rows[setting] == values[0]], swept) if values else rows.iloc[:0]
        for value in values[1:]:
            e = effect(arm, f"{setting} {value:g}", at_best(rows[rows[setting] == value], swept), base)
            if e is not None:
                out.append(e)
    return out


def arm_levers(finished: pd.DataFrame, arms: tuple[str, ...], settings: dict[str, float],
               swept: tuple[str, ...]) -> list[LeverEffect]:
    """Each arm after the first against the first, with the swept `settings` at their given values."""
    at = finished
    for setting, value in settings.items():
        at = at[at[setting] == value]
    base = at_best(at[at["arm"] == arms[0]], swept)
    out = [effect(arm, arm, at_best(at[at["arm"] == arm], swept), base) for arm in arms[1:]]
    return [e for e in out if e is not None]


def seed_spread(finished: pd.DataFrame, swept: tuple[str, ...]) -> tuple[float, int]:
    """The seed-to-seed noise of one run's loss (pooled standard deviation over the points run with
    several seeds: the same arm and swept values) and how many such points; (nan, 0) when none."""
    axes = [axis for axis in swept if axis not in ("width", "seed") and axis in finished]
    group = finished["arm"].astype(str)
    for axis in axes:
        group = group + "|" + finished[axis].astype(str)
    noise = seed_noise(finished.assign(group=group))
    if not noise.measured:
        return float("nan"), 0
    # analysis.noise measures it relative (the σ of log loss): in nats at these runs' typical loss.
    return noise.sigma * float(np.median(finished["loss"])), noise.points
